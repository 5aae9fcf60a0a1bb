"""A study's status from its spec and trial records, the same for both runtimes.

The operator writes the result into the CarbsStudy's status and `carbs run` shows it, so
the rules (which phase, which conditions, what the frontier is) live here once and are
pure: the caller passes the clock and the previous status, which makes re-running a
reconcile with unchanged input produce an identical status (no spurious API writes).

Final phases are not made sticky here. If a user raises maxTrials on a Succeeded study the
status says Running again; whether to honour that is the runtime's decision, not this
module's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from carbs_operator.frontier import MAX_FRONTIER_POINTS, pareto_frontier
from carbs_operator.models import (
    MAX_PARAMETERS,
    BestTrial,
    Condition,
    ConditionStatus,
    FrontierPoint,
    ParameterSpace,
    ScaleUp,
    ScalingLawStatus,
    StudyPhase,
    StudySpec,
    StudyStatus,
    TrialCounts,
    TrialPhase,
    ValueBand,
)
from carbs_operator.scaleup.predict import scale_up_prediction
from carbs_operator.study import (
    Decision,
    StopReason,
    TrialRecord,
    best_trial,
    study_decision,
    trial_name,
)
from carbs_optimizer import VERDICT_SATURATED
from carbs_optimizer import ScalingLaw as FittedLaw

# Condition types this module owns; others found in `previous` (an operator may add its
# own) are carried over untouched. They follow batch/v1 Job, so that `kubectl wait
# --for=condition=Complete` means success and `--for=condition=Failed` means failure: a
# study that ran out of failures is Failed=True and Complete=False, never Complete=True.
VALID = "Valid"
COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
RUNNING = "Running"
OWNED_CONDITIONS = (VALID, COMPLETE, FAILED, SUSPENDED, RUNNING)


def study_status(
    spec: StudySpec,
    trials: Sequence[TrialRecord],
    laws: Sequence[FittedLaw],
    generation: int | None,
    previous: StudyStatus | None,
    now: datetime,
    *,
    study: str,
) -> StudyStatus:
    """The status of study `study` (its metadata.name: trials are named after it).

    `laws` are the engine's fitted scaling laws; unfitted ones (too few frontier points)
    are left out, since the status schema has no way to say "unknown" for a slope.
    """
    decision = study_decision(spec, trials)
    usable = usable_trials(trials)
    phase = study_phase(spec, decision)
    old = {c.type: c for c in (previous.conditions if previous else [])}
    conditions = [c for c in (previous.conditions if previous else [])
                  if c.type not in OWNED_CONDITIONS]
    for kind, status, reason, message in _owned_conditions(spec, decision):
        conditions.append(_condition(old.get(kind), kind, status, reason, message,
                                     generation, now))
    counts = decision.counts
    return StudyStatus(
        phase=phase,
        conditions=conditions,
        observed_generation=generation,
        trials=TrialCounts(
            total=counts.total, pending=counts.pending, running=counts.running,
            succeeded=counts.succeeded, failed=counts.failed, lost=counts.lost,
            early_stopped=counts.early_stopped,
        ),
        progress=f"{counts.finished}/{spec.budget.max_trials}",
        total_cost=max(0.0, decision.total_cost),
        best_trial=_best(spec, usable, study),
        pareto_frontier=[
            FrontierPoint(trial=trial_name(study, t.index), params=dict(t.params),
                          objective=float(t.objective or 0.0), cost=float(t.cost or 0.0))
            for t in pareto_frontier(spec, usable, MAX_FRONTIER_POINTS)
        ],
        scaling_laws=_laws(laws),
        scale_up=scale_up_status(spec, usable, laws),
        start_time=_start_time(trials, previous),
        completion_time=_completion_time(trials, previous, now) if decision.complete else None,
    )


def study_phase(spec: StudySpec, decision: Decision) -> StudyPhase:
    """Complete beats suspended: a finished study stays finished whatever suspend says."""
    if decision.complete:
        if decision.stop_reason == StopReason.TOO_MANY_FAILURES:
            return StudyPhase.FAILED
        return StudyPhase.SUCCEEDED
    if spec.suspend:
        return StudyPhase.SUSPENDED
    if decision.counts.total == 0:
        return StudyPhase.PENDING
    return StudyPhase.RUNNING


def _owned_conditions(
    spec: StudySpec, decision: Decision
) -> list[tuple[str, ConditionStatus, str, str]]:
    """(type, status, reason, message) of each condition this module maintains.

    Conditions written by earlier versions (Complete=True with reason TooManyFailures) are
    replaced on the next pass, since every owned type is recomputed here.
    """
    true, false = ConditionStatus.TRUE, ConditionStatus.FALSE
    failing = decision.stop_reason == StopReason.TOO_MANY_FAILURES
    out = [(VALID, true, "SpecValid", "the spec passed validation")]
    waiting = (f"{decision.message}; waiting for {decision.counts.in_flight} trial(s) in "
               "flight")
    if decision.complete and decision.stop_reason is not None and not failing:
        out.append((COMPLETE, true, str(decision.stop_reason), decision.message))
    elif failing:
        out.append((COMPLETE, false, "StudyFailed", "the study failed: see the Failed condition"))
    elif decision.stop_reason is not None:
        # Stopped starting trials, but some are still in flight (completionPolicy keep, or
        # deletion not yet observed): not complete until they are gone.
        out.append((COMPLETE, false, "WaitingForTrials", waiting))
    else:
        out.append((COMPLETE, false, "InProgress", decision.message))
    if failing and decision.complete:
        out.append((FAILED, true, str(StopReason.TOO_MANY_FAILURES), decision.message))
    elif failing:
        out.append((FAILED, false, "WaitingForTrials", waiting))
    else:
        allowed = spec.budget.max_failed_trials
        limit = "no limit" if allowed is None else f"the study fails after more than {allowed}"
        out.append((FAILED, false, "WithinFailureBudget",
                    f"{decision.counts.failed} trial(s) failed; {limit}"))
    if spec.suspend and not decision.complete:
        out.append((SUSPENDED, true, "SuspendRequested", "spec.suspend is true: no new trial "
                    f"starts ({decision.counts.in_flight} in flight)"))
    else:
        out.append((SUSPENDED, false, "NotSuspended", ""))
    phase = study_phase(spec, decision)
    if phase == StudyPhase.RUNNING:
        out.append((RUNNING, true, "TrialsRunning",
                    f"{decision.counts.in_flight} trial(s) in flight"))
    else:
        out.append((RUNNING, false, str(phase), f"the study is {phase}"))
    return out


def _condition(
    old: Condition | None,
    kind: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime,
) -> Condition:
    """Kubernetes convention: lastTransitionTime moves only when the status flips."""
    since = old.last_transition_time if old is not None and old.status == status else now
    return Condition(type=kind, status=status, reason=reason, message=message,
                     last_transition_time=since, observed_generation=generation)


def usable_trials(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The trials a status, a table or a plot may show as results (see _trustworthy)."""
    return [t for t in trials if _trustworthy(t)]


def _trustworthy(trial: TrialRecord) -> bool:
    """results.py already fails a trial whose result is not finite; should one slip through
    (an older record, a hand-edited store), it must not reach the status, whose schema
    rejects non-finite numbers. It still counts as succeeded, as study_decision() counts it."""
    if trial.phase != TrialPhase.SUCCEEDED:
        return True
    values = (trial.objective, trial.cost, *trial.params.values())
    return all(v is not None and (isinstance(v, str) or math.isfinite(v)) for v in values) and (
        (trial.cost or 0.0) > 0
    )


def _best(spec: StudySpec, trials: Sequence[TrialRecord], study: str) -> BestTrial | None:
    best = best_trial(spec, trials)
    if best is None:
        return None
    return BestTrial(name=trial_name(study, best.index), index=best.index,
                     params=dict(best.params), objective=float(best.objective or 0.0),
                     cost=float(best.cost or 0.0))


def _laws(laws: Sequence[FittedLaw]) -> list[ScalingLawStatus]:
    out = []
    for law in laws:
        verdict = {"verdict": law.verdict, "held_value": _finite_or_none(law.held_value),
                   "saturation_cost": _finite_or_none(law.saturation_cost)}
        if law.bands is not None:  # categorical/ordinal: the value per cost band
            bands = [ValueBand(min_cost=b.min_cost, max_cost=b.max_cost, value=b.value,
                               points=b.points) for b in law.bands[:MAX_FRONTIER_POINTS]]
            out.append(ScalingLawStatus(parameter=law.parameter, space=ParameterSpace(law.space),
                                  points=law.points, bands=bands, **verdict))
            continue
        numbers = (law.exponent, law.intercept, law.r2)
        if not all(v is not None and math.isfinite(v) for v in numbers):
            continue
        interval = law.exponent_interval
        out.append(ScalingLawStatus(
            parameter=law.parameter, space=ParameterSpace(law.space),
            slope=float(law.exponent or 0.0), intercept=float(law.intercept or 0.0),
            r2=float(law.r2 or 0.0), points=law.points,
            fit="joint" if law.fit == "joint" else "frontier",
            interval=(list(interval) if interval is not None
                      and all(math.isfinite(v) for v in interval) else None),
            **verdict,
        ))
    return out[:MAX_PARAMETERS]


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def scale_up_status(spec: StudySpec, trials: Sequence[TrialRecord],
                    laws: Sequence[FittedLaw] = ()) -> ScaleUp | None:
    """The prediction at 10x the largest finished trial's cost; None while the frontier
    cannot support one (the refusal is `carbs predict`'s to explain, not the status's), and
    None past the cost where the laws say the objective stopped improving: no law may be
    extrapolated beyond a saturated frontier, and a status must not show one that is."""
    prediction = scale_up_prediction(spec, trials)
    if prediction is None or _beyond_saturation(laws, prediction.cost):
        return None
    return ScaleUp.model_validate(prediction.to_json())


def _beyond_saturation(laws: Sequence[FittedLaw], cost: float) -> bool:
    return any(law.verdict == VERDICT_SATURATED and law.saturation_cost is not None
               and cost > law.saturation_cost for law in laws)


def _timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _start_time(trials: Sequence[TrialRecord], previous: StudyStatus | None) -> datetime | None:
    """The first trial's start; kept once set, since that trial may later be deleted."""
    if previous is not None and previous.start_time is not None:
        return previous.start_time
    starts = [t.started_at for t in trials if t.started_at is not None]
    return _timestamp(min(starts)) if starts else None


def _completion_time(
    trials: Sequence[TrialRecord], previous: StudyStatus | None, now: datetime
) -> datetime:
    """When the last trial finished; `now` when the records do not say."""
    if previous is not None and previous.completion_time is not None:
        return previous.completion_time
    ends = [t.finished_at for t in trials if t.finished_at is not None]
    return _timestamp(max(ends)) if ends else now


def condition(status: StudyStatus, kind: str) -> Condition | None:
    """The condition of type `kind`, for callers that print or test one."""
    found: Mapping[str, Condition] = {c.type: c for c in status.conditions}
    return found.get(kind)


def invalid_status(
    message: str, generation: int | None, previous: StudyStatus | None, now: datetime
) -> StudyStatus:
    """Phase Invalid with a Valid=False condition naming the problems.

    Everything else the previous status said (counts, frontier) stays: an edit that breaks
    the spec must not erase what the study already found.
    """
    base = previous.model_copy() if previous is not None else StudyStatus()
    old = {c.type: c for c in base.conditions}
    conditions = [c for c in base.conditions if c.type != VALID]
    conditions.insert(0, _condition(old.get(VALID), VALID, ConditionStatus.FALSE, "InvalidSpec",
                                    message, generation, now))
    return base.model_copy(update={
        "phase": StudyPhase.INVALID, "conditions": conditions, "observed_generation": generation,
    })
