"""The progress channel: `CARBS_PROGRESS {json}` lines a trial prints while it trains.

Why stdout: both runtimes already hold a trial's output (the local runner its output.log,
the operator the primary pod's log), so a marked line needs no RBAC, no network and no file
the pod must share, and `report_progress()` stays as light as `report()`. The runtimes read
only the new bytes of the output on each poll, so everything here is bounded by the chunk:
a line longer than MAX_LINE_BYTES is skipped, a chunk yields at most `max_points` points
(the latest ones), and nothing a trial prints can raise. Lines that carry the marker but do
not parse are counted as problems, with the first one's reason kept for the trial's status.

Stdlib only: the SDK imports the marker from here inside training processes.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

MARKER = "CARBS_PROGRESS "
_MARKER_BYTES = MARKER.encode()
# A progress line is a handful of metrics; anything longer is someone else's output.
MAX_LINE_BYTES = 4096
# Points kept from one read; more in a single poll is a flood (the latest are kept).
MAX_POINTS_PER_READ = 256
# Points a trial's stored learning curve keeps (thinned evenly beyond this).
MAX_CURVE_POINTS = 64
# Bytes of output read per poll; a backlog beyond MAX_BACKLOG_BYTES is skipped, not queued.
MAX_READ_BYTES = 256 * 1024
MAX_BACKLOG_BYTES = 4 * 1024 * 1024

T = TypeVar("T")


@dataclass(frozen=True)
class ProgressPoint:
    """One progress line: the trainer's step and the numeric metrics it printed."""

    step: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class ProgressChunk:
    """What one read of a trial's output held.

    `consumed` is how many bytes of the chunk were dealt with (up to the end of its last
    complete line); the caller reads on from there next time, so a line split across two
    reads is parsed once, whole. `dropped` counts good points left out beyond `max_points`.
    """

    points: list[ProgressPoint] = field(default_factory=list)
    problems: int = 0
    first_problem: str | None = None
    dropped: int = 0
    consumed: int = 0


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _reject(constant: str) -> float:
    raise ValueError(f"non-finite number {constant}")


def parse_line(payload: str) -> ProgressPoint | str:
    """The point a marked line's JSON payload holds, or why it holds none."""
    try:
        data = json.loads(payload, parse_constant=_reject)
    except ValueError as error:
        return f"not JSON ({error})"
    except RecursionError:
        return "not JSON (nested too deeply)"
    if not isinstance(data, dict):
        return f"not a JSON object (got {type(data).__name__})"
    step = data.get("step")
    if isinstance(step, bool) or not isinstance(step, int):
        return "'step' must be an integer"
    if step < 0:
        return "'step' must be >= 0"
    metrics: dict[str, float] = {}
    for name, value in data.items():
        if name == "step":
            continue
        number = _number(value)
        if not name or number is None:
            return f"metric {name!r} is not a finite number (got {value!r})"
        metrics[name] = number
    return ProgressPoint(step, metrics)


def parse_chunk(data: bytes, *, final: bool = False,
                max_points: int = MAX_POINTS_PER_READ) -> ProgressChunk:
    """Progress points from the complete lines of `data` (the new bytes of an output).

    An unfinished last line is left unconsumed, unless it is already over MAX_LINE_BYTES
    (it is skipped, and the rest of it will be read as a line without the marker) or
    `final` says no more output will come. Bytes that are not UTF-8 are replaced.
    """
    points: deque[ProgressPoint] = deque(maxlen=max(1, max_points))
    problems = kept = 0
    first_problem: str | None = None
    end = data.rfind(b"\n") + 1
    if final or len(data) - end > MAX_LINE_BYTES:
        end = len(data)
    for raw in data[:end].split(b"\n"):
        at = raw.find(_MARKER_BYTES)
        if at < 0:
            continue
        if len(raw) > MAX_LINE_BYTES:
            problem: ProgressPoint | str = f"line over {MAX_LINE_BYTES} bytes"
        else:
            text = raw[at + len(_MARKER_BYTES):].decode("utf-8", errors="replace").strip()
            problem = parse_line(text)
        if isinstance(problem, ProgressPoint):
            points.append(problem)
            kept += 1
            continue
        problems += 1
        if first_problem is None:
            first_problem = f"malformed progress line ({problem})"
    return ProgressChunk(list(points), problems, first_problem, kept - len(points), end)


def thin(points: Sequence[T], limit: int = MAX_CURVE_POINTS) -> list[T]:
    """At most `limit` of `points`, evenly spaced by position, keeping the first and last
    (the start of the curve and where it is now matter most to a stopping rule)."""
    count = len(points)
    if count <= limit:
        return list(points)
    if limit <= 1:
        return [points[-1]] if limit == 1 else []
    chosen = sorted({round(i * (count - 1) / (limit - 1)) for i in range(limit)})
    return [points[i] for i in chosen]
