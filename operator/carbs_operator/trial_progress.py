"""A running trial's progress, the same for both runtimes: its learning curve from the
progress lines it printed, the note on progress that was ignored, and whether
spec.earlyStopping stops it now.

Pure. The local runner and the operator read the trial's output (bounded, new bytes only),
parse it with learning_curves.parse_chunk, and hand the points here with the cost the trial
has measured so far; they store what comes back (a SQLite row, a CarbsTrial status) and act
on a StopDecision (record it first, then end the workload). The wire form of a curve and a
stop (camelCase dicts, as CarbsTrial status holds them) is converted here too, tolerant of
hand-edited objects: a bad entry is dropped, never raised on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from carbs_operator.early_stopping import CurvePoint, Peer, StopDecision, rule_verdict
from carbs_operator.learning_curves import (
    MAX_CURVE_POINTS,
    ProgressChunk,
    ProgressPoint,
    thin,
)
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord

# A note longer than this is cut: it lands in a status field with a length limit.
MAX_WARNING_CHARS = 1000


def curve_points(spec: StudySpec, points: Iterable[ProgressPoint],
                 cost_so_far: float | None) -> list[CurvePoint]:
    """The points that carry the study's objective, with their cost so far.

    When cost is a reported metric, the cost is that metric from the same line (None when
    the line lacks it); when cost is measured, it is `cost_so_far`, the runtime's measure
    of the trial's cost at the time the line was read. Lines without the objective do not
    inform a stopping rule and are dropped.
    """
    out = []
    for point in points:
        objective = point.metrics.get(spec.objective.metric)
        if objective is None:
            continue
        if spec.cost.metric is not None:
            cost = point.metrics.get(spec.cost.metric)
        else:
            cost = cost_so_far
        if cost is not None and not (math.isfinite(cost) and cost >= 0):
            cost = None
        out.append(CurvePoint(point.step, objective, cost))
    return out


def extend_curve(curve: Sequence[CurvePoint], new: Iterable[CurvePoint],
                 limit: int = MAX_CURVE_POINTS) -> tuple[CurvePoint, ...]:
    """`curve` with the `new` points appended, thinned to `limit` (first and last kept).

    A point whose step is not past the curve's last step means the trainer went back (it
    resumed from a checkpoint): the points from that step on are replaced, so a curve's
    steps always increase.
    """
    points = list(curve)
    for point in new:
        while points and points[-1].step >= point.step:
            points.pop()
        points.append(point)
    return tuple(thin(points, limit))


def chunk_warning(chunk: ProgressChunk, skipped_bytes: int = 0) -> str | None:
    """What a read of progress ignored, in a sentence for the trial's status (None: nothing)."""
    parts = []
    if chunk.problems:
        plural = "s" if chunk.problems > 1 else ""
        parts.append(f"{chunk.problems} malformed progress line{plural} skipped "
                     f"(first: {chunk.first_problem})")
    if chunk.dropped:
        parts.append(f"{chunk.dropped} progress points in one read were thinned out "
                     "(progress printed faster than it is read)")
    if skipped_bytes:
        parts.append(f"{skipped_bytes} bytes of output skipped unread: the trial prints "
                     "faster than its progress is read")
    return _cut("; ".join(parts)) if parts else None


#: A running trial's progress is late once nothing came for this many seconds...
SILENCE_SECONDS = 600.0
#: ...and for this many times the trial's own pace so far (a trial printing once an hour
#: is not late after ten minutes). Both runtimes judge lateness by late_progress.
SILENT_PACES = 3.0


def late_progress(started_at: float | None, last_progress_at: float | None, now: float,
                  curve: Sequence[CurvePoint], *, floor: float = SILENCE_SECONDS,
                  expects_progress: bool = True) -> str | None:
    """Why a running trial's progress is late, or None. `expects_progress`: the study
    judges progress (spec.earlyStopping), so a trial that printed none at all is late too."""
    if started_at is None:
        return None
    since = last_progress_at if last_progress_at is not None else started_at
    pace = (since - started_at) / len(curve) if curve else 0.0
    limit = math.ceil(max(floor, SILENT_PACES * pace))
    if curve:
        return silence_warning(since, now, limit, curve)
    if not expects_progress or now - since < limit:
        return None
    return (f"no progress line in the first {limit} s of the run (the trainer calls "
            "carbs_operator.report_progress?); early stopping cannot judge it")


def silence_warning(last_progress_at: float | None, now: float, silent_after: float,
                    curve: Sequence[CurvePoint]) -> str | None:
    """A note when a trial that reported progress stopped reporting it: it is judged on
    what it reported, and runs on to its end or its activeDeadlineSeconds. The text does
    not change while the silence lasts, so it is stored once, not on every poll."""
    if last_progress_at is None or not curve or now - last_progress_at < silent_after:
        return None
    return (f"no progress for over {silent_after:g} s since step {curve[-1].step}; "
            "the trial is judged on the progress it reported")


def stopped_cost(spec: StudySpec, stop: StopDecision, curve: Sequence[CurvePoint],
                 measured: float | None) -> float | None:
    """What a stopped trial spent, for maxTotalCost: its measured cost when the study
    measures cost (`measured`, taken when the stop was decided), else the cost metric at
    the stop's point, else the latest the trial reported."""
    if spec.cost.metric is None:
        return measured
    if stop.cost is not None:
        return stop.cost
    return next((p.cost for p in reversed(curve) if p.cost is not None), None)


def _cut(text: str) -> str:
    return text if len(text) <= MAX_WARNING_CHARS else text[: MAX_WARNING_CHARS - 1] + "…"


def peer_of(trial: TrialRecord) -> Peer:
    """A trial as a stopping rule sees it: its curve, and its final result if it succeeded."""
    if trial.phase == TrialPhase.SUCCEEDED:
        return Peer(trial.curve, trial.objective, trial.cost, trial.predicted_cost)
    return Peer(trial.curve)


def peers(trials: Iterable[TrialRecord], exclude: int) -> list[Peer]:
    """Every other trial that has something to compare with (a curve, or a result)."""
    return [peer_of(t) for t in trials if t.index != exclude
            and (t.curve or t.phase == TrialPhase.SUCCEEDED)]


def stop_decision(spec: StudySpec, trial: TrialRecord, curve: Sequence[CurvePoint],
                  trials: Sequence[TrialRecord]) -> StopDecision | None:
    """Whether spec.earlyStopping stops `trial` now that its curve is `curve`."""
    if spec.early_stopping is None or not curve:
        return None
    return rule_verdict(spec.early_stopping, spec.objective.direction, curve, trial.predicted_cost,
                  peers(trials, trial.index), metric=spec.objective.metric)


# ------------------------------------------------------------------------ the wire form


def curve_to_status(curve: Iterable[CurvePoint]) -> list[dict[str, Any]]:
    """CarbsTrial status.learningCurve."""
    return [_point_dict(p) for p in curve]


def _point_dict(point: CurvePoint | StopDecision) -> dict[str, Any]:
    out: dict[str, Any] = {"step": point.step, "objective": point.objective}
    if point.cost is not None:
        out["cost"] = point.cost
    return out


def stop_to_status(stop: StopDecision, time: str | None = None) -> dict[str, Any]:
    """CarbsTrial status.earlyStop; `time` an RFC 3339 timestamp, when known."""
    out = {"reason": stop.reason[:1024] or "stopped early", **_point_dict(stop)}
    if time is not None:
        out["time"] = time
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _step(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def curve_from_status(entries: Any) -> tuple[CurvePoint, ...]:
    """status.learningCurve back to points; malformed entries are dropped."""
    if not isinstance(entries, Sequence) or isinstance(entries, str):
        return ()
    out = []
    for entry in entries[: MAX_CURVE_POINTS * 2]:
        point = _point_from(entry)
        if point is not None:
            out.append(point)
    return tuple(out)


def _point_from(entry: Any) -> CurvePoint | None:
    if not isinstance(entry, Mapping):
        return None
    step, objective = _step(entry.get("step")), _number(entry.get("objective"))
    if step is None or objective is None:
        return None
    return CurvePoint(step, objective, _number(entry.get("cost")))


def stop_from_status(entry: Any) -> StopDecision | None:
    """status.earlyStop back to a decision; None when absent or malformed."""
    point = _point_from(entry)
    if point is None or not isinstance(entry, Mapping):
        return None
    reason = entry.get("reason")
    return StopDecision(reason if isinstance(reason, str) and reason else "stopped early",
                        point.step, point.objective, point.cost)
