"""Reading a running trial's progress from the tail of its primary pod's log (pure).

The operator cannot keep a byte offset into a pod's log (the API has none), so each poll
reads a bounded tail (`TAIL_LINES`, `TAIL_BYTES`) with the kubelet's timestamps: the time on
each line says which lines are new since the last poll (the newest line time seen is the
cursor), and when a progress point was printed, so a measured cost (runtime or GPU seconds)
is the cost at that moment, not at the poll. The curve, its warnings and the rules are the
runtime-neutral ones of carbs_operator.trial_progress.

Everything a trial prints is untrusted: a line that is not `<time> <text>` is ignored, and
the progress lines themselves are parsed by carbs_operator.learning_curves (bounded line
length, malformed lines counted with the first reason, at most MAX_POINTS_PER_READ points).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from carbs_operator.learning_curves import (
    MAX_POINTS_PER_READ,
    MAX_READ_BYTES,
    ProgressChunk,
    ProgressPoint,
    parse_chunk,
)

# Lines of the log's tail read per poll; the kubelet then cuts them at TAIL_BYTES. When the
# tail is longer than that, the read is retried once with fewer lines (the newest matter).
TAIL_LINES = 1000
TAIL_BYTES = MAX_READ_BYTES


@dataclass(frozen=True)
class Reading:
    """The new lines of one tail read: their progress as learning_curves parses a chunk,
    `times[i]` the time `chunk.points[i]` was printed, how many lines were new, and the
    newest line's time (the next cursor)."""

    chunk: ProgressChunk
    times: list[float] = field(default_factory=list)
    lines: int = 0
    newest: float | None = None


def line_time(stamp: bytes) -> float | None:
    """POSIX seconds of a kubelet timestamp (RFC 3339, up to nanoseconds), or None."""
    text = stamp.decode("ascii", errors="replace")
    if not text.endswith("Z"):
        return None
    whole, _, fraction = text[:-1].partition(".")
    try:
        seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
        return seconds + (float(f"0.{fraction}") if fraction.isdigit() else 0.0)
    except ValueError:
        return None


def read_tail(data: bytes, after: float | None) -> Reading:
    """The progress in a timestamped tail `data` on lines newer than `after`.

    An unfinished last line (the log cut at the byte limit, or a line still being written)
    is left for the next poll, which reads it whole.
    """
    end = data.rfind(b"\n") + 1
    points: list[ProgressPoint] = []
    times: list[float] = []
    lines = problems = 0
    first_problem: str | None = None
    newest: float | None = None
    for raw in data[:end].split(b"\n")[:-1]:
        stamp, _, text = raw.partition(b" ")
        when = line_time(stamp)
        if when is None or (after is not None and when <= after):
            continue
        lines += 1
        newest = when if newest is None else max(newest, when)
        parsed = parse_chunk(text, final=True, max_points=1)
        problems += parsed.problems
        first_problem = first_problem or parsed.first_problem
        points.extend(parsed.points)
        times.extend(when for _ in parsed.points)
    dropped = max(0, len(points) - MAX_POINTS_PER_READ)  # a flood: the latest are kept
    chunk = ProgressChunk(points[dropped:], problems, first_problem, dropped, end)
    return Reading(chunk, times[dropped:], lines, newest)
