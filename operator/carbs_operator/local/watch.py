"""What `carbs run` does to a trial while it runs: read the new part of its output for
progress lines, and end its processes when spec.earlyStopping stops it.

The reading is bounded per poll: at most learning_curves.MAX_READ_BYTES, and a backlog over
MAX_BACKLOG_BYTES (a trial printing faster than it is read) is skipped, so a flooding trial
costs the runner the same as a quiet one. Ending a trial goes through its launcher, which
sends SIGTERM to the command's process group and SIGKILL after the grace period; when the
launcher is gone (killed with the runner) the runner signals the command's group itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbs_operator.early_stopping import CurvePoint
from carbs_operator.errors import InvalidInputError
from carbs_operator.learning_curves import (
    MAX_BACKLOG_BYTES,
    MAX_READ_BYTES,
    ProgressChunk,
    parse_chunk,
)
from carbs_operator.local import launcher as files
from carbs_operator.models import StudySpec
from carbs_operator.study import TrialRecord, measured_cost
from carbs_operator.template import primary_container, template_data, workload_kind
from carbs_operator.trial_progress import (
    chunk_warning,
    curve_points,
    extend_curve,
    late_progress,
)
from carbs_operator.workloads import pod_templates

# Kubernetes' default terminationGracePeriodSeconds, used when the template sets none.
DEFAULT_GRACE_SECONDS = 30.0
# After the grace period, how long the launcher gets to SIGKILL before the runner does.
KILL_MARGIN_SECONDS = 5.0


@dataclass(frozen=True)
class NewOutput:
    """Bytes of a trial's output not read before: `data` starts at byte `start`;
    `skipped` bytes before it were passed over unread (a backlog)."""

    data: bytes
    start: int
    skipped: int = 0


def read_new_output(path: Path, offset: int) -> NewOutput:
    """The output after `offset`, bounded; nothing when the file does not exist yet."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return NewOutput(b"", offset)
    if size < offset:  # the file was replaced: read it from its start
        offset = 0
    skipped = 0
    if size - offset > MAX_BACKLOG_BYTES:
        skipped = size - MAX_READ_BYTES - offset
        offset = size - MAX_READ_BYTES
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(MAX_READ_BYTES)
    except FileNotFoundError:
        return NewOutput(b"", offset)
    return NewOutput(data, offset, skipped)


@dataclass
class ReadState:
    """How far a running trial's output was read, and what its reads ignored so far."""

    offset: int = 0
    last_progress_at: float | None = None
    problems: int = 0
    first_problem: str | None = None
    dropped: int = 0
    skipped: int = 0


def read_progress(spec: StudySpec, record: TrialRecord, path: Path, state: ReadState,
                  now: float, *, gpus: int, silent_after: float,
                  final: bool = False) -> tuple[tuple[CurvePoint, ...], str | None]:
    """The trial's curve and progress note after reading its new output (`state` moves
    on). `final`: the trial has ended, so an unterminated last line is read too."""
    new = read_new_output(path, state.offset)
    chunk = parse_chunk(new.data, final=final) if new.data else ProgressChunk()
    state.offset = new.start + chunk.consumed
    state.problems += chunk.problems
    state.first_problem = state.first_problem or chunk.first_problem
    state.dropped += chunk.dropped
    state.skipped += new.skipped
    started = record.started_at if record.started_at is not None else now
    points = curve_points(spec, chunk.points, measured_cost(spec, now - started, gpus))
    curve = extend_curve(record.curve, points) if points else tuple(record.curve)
    if points:
        state.last_progress_at = now
    totals = ProgressChunk(problems=state.problems, first_problem=state.first_problem,
                           dropped=state.dropped)
    late = late_progress(record.started_at, state.last_progress_at, now, curve,
                         floor=silent_after, expects_progress=spec.early_stopping is not None)
    warning = late or chunk_warning(totals, state.skipped)
    return curve, warning


def grace_seconds(spec: StudySpec) -> float:
    """The primary container's pod's terminationGracePeriodSeconds, as a cluster would
    grant it, else DEFAULT_GRACE_SECONDS."""
    try:
        path, _ = primary_container(spec)
    except InvalidInputError:  # a template or kind error fails the trial elsewhere
        return DEFAULT_GRACE_SECONDS
    for pod_path, pod in pod_templates(workload_kind(spec),
                                       template_data(spec).get("spec") or {}):
        if path.startswith(f"{pod_path}.spec.containers["):
            value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return float(value)
    return DEFAULT_GRACE_SECONDS


def _pid(path: Path) -> int | None:
    try:
        document: Any = json.loads(path.read_text(encoding="utf-8"))
        pid = document.get("pid") if isinstance(document, dict) else None
    except (OSError, ValueError):
        return None
    return pid if isinstance(pid, int) and pid > 1 else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the pid
        return False
    return True


def launcher_pid(directory: Path) -> int | None:
    return _pid(directory / files.STARTED_FILE)


def has_ended(directory: Path) -> bool:
    """Whether the trial has reported its result or its command has exited: it is no
    longer a candidate for an early stop (its last progress line and its result are printed
    together, and a stop decided on that line would discard a finished trial's result)."""
    return (directory / files.RESULT_FILE).exists() or (directory / files.EXIT_FILE).exists()


def terminate(directory: Path, launcher: int | None) -> None:
    """Ask the trial to end (its launcher applies the grace period); the command's process
    group directly when the launcher is gone."""
    if launcher is not None and _alive(launcher):
        with contextlib.suppress(ProcessLookupError):
            os.kill(launcher, signal.SIGTERM)
        return
    _signal_group(directory, signal.SIGTERM)


def kill(directory: Path, launcher: int | None) -> None:
    """The grace period is over: SIGKILL the command's process group and the launcher."""
    _signal_group(directory, signal.SIGKILL)
    if launcher is not None and _alive(launcher):
        with contextlib.suppress(ProcessLookupError):
            os.kill(launcher, signal.SIGKILL)


def _signal_group(directory: Path, sig: signal.Signals) -> None:
    group = _pid(directory / files.COMMAND_FILE)
    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)
