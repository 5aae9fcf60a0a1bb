"""The study's decision rules, shared by `carbs run` and the operator.

Pure functions of (spec, trial records): how many trials to start now, whether the study is
complete and why, the counts and the best trial. Neither runtime keeps a second copy of
these rules. (The frontier lives in frontier.py; rebuilding the engine in replay.py.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.models import CostSource, Direction, StudySpec, SuggestionKind, TrialPhase


def trial_name(study: str, index: int) -> str:
    """Deterministic, so a create retried after a crash finds the same object."""
    return f"{study}-{index}"


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One trial as either runtime stores it (a SQLite row or a CarbsTrial object).

    Times are POSIX seconds. `cost` is set for succeeded trials and, where it was
    measured, for failed ones; it counts toward `maxTotalCost` either way. An EarlyStopped
    trial's `cost` is its cost so far when it was stopped and `objective` its objective
    there; `early_stop` says why and where. `curve` is its bounded learning curve
    (learning_curves.MAX_CURVE_POINTS, thinned), `predicted_cost` the engine's prediction
    when it suggested the trial (None for random and resampled points).
    """

    index: int
    params: Mapping[str, float | str]
    phase: TrialPhase
    suggestion_id: str | None = None
    suggestion_kind: SuggestionKind | None = None
    objective: float | None = None
    cost: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    failure_reason: str | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    predicted_cost: float | None = None
    curve: tuple[CurvePoint, ...] = ()
    early_stop: StopDecision | None = None
    progress_warning: str | None = None

    @property
    def in_flight(self) -> bool:
        return self.phase in (TrialPhase.PENDING, TrialPhase.RUNNING)


class StopReason(StrEnum):
    """Why a study starts no more trials (the condition reason in its status)."""

    GOAL_REACHED = "GoalReached"
    MAX_TRIALS_REACHED = "MaxTrialsReached"
    TOO_MANY_FAILURES = "TooManyFailures"
    COST_BUDGET_SPENT = "CostBudgetSpent"


@dataclass(frozen=True)
class PhaseCounts:
    """How many of a study's trials are in each phase (and the sums the rules use)."""

    total: int = 0
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    lost: int = 0
    early_stopped: int = 0

    @property
    def in_flight(self) -> int:
        return self.pending + self.running

    @property
    def finished(self) -> int:
        """Trials that used up their share of maxTrials: an early-stopped trial spent its
        compute and was decided, so it counts; only `failed` counts against
        maxFailedTrials."""
        return self.succeeded + self.failed + self.early_stopped

    @property
    def counted(self) -> int:
        """Trials that use up maxTrials: all but the lost ones, which are replaced."""
        return self.total - self.lost


@dataclass(frozen=True)
class Decision:
    """What to do now. `start` new trials; `stop_reason` once no more will start;
    `complete` when stopped and nothing is in flight any more."""

    start: int
    stop_reason: StopReason | None
    complete: bool
    counts: PhaseCounts
    total_cost: float
    message: str


def count_trials(trials: Sequence[TrialRecord]) -> PhaseCounts:
    by_phase = dict.fromkeys(TrialPhase, 0)
    for trial in trials:
        by_phase[trial.phase] += 1
    return PhaseCounts(
        total=len(trials),
        pending=by_phase[TrialPhase.PENDING],
        running=by_phase[TrialPhase.RUNNING],
        succeeded=by_phase[TrialPhase.SUCCEEDED],
        failed=by_phase[TrialPhase.FAILED],
        lost=by_phase[TrialPhase.LOST],
        early_stopped=by_phase[TrialPhase.EARLY_STOPPED],
    )


def total_cost(trials: Sequence[TrialRecord]) -> float:
    return sum(t.cost for t in trials if t.cost is not None and math.isfinite(t.cost))


def direction_sign(spec: StudySpec) -> int:
    """+1 when larger objectives are better, as the engine's better_direction_sign."""
    return 1 if spec.objective.direction == Direction.MAXIMIZE else -1


def successes(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    return [
        t for t in trials
        if t.phase == TrialPhase.SUCCEEDED and t.objective is not None and t.cost is not None
    ]


def best_trial(spec: StudySpec, trials: Sequence[TrialRecord]) -> TrialRecord | None:
    """The best successful trial; ties go to the cheaper, then the earlier one."""
    sign = direction_sign(spec)
    done = successes(trials)
    if not done:
        return None
    return max(done, key=lambda t: (sign * float(t.objective or 0.0), -(t.cost or 0.0), -t.index))


def goal_reached(spec: StudySpec, trials: Sequence[TrialRecord]) -> bool:
    goal = spec.budget.goal
    best = best_trial(spec, trials)
    if goal is None or best is None or best.objective is None:
        return False
    return direction_sign(spec) * (best.objective - goal) >= 0


def study_decision(spec: StudySpec, trials: Sequence[TrialRecord]) -> Decision:
    """The rules, in order: goal, failures, cost budget, trial count; then parallelism."""
    counts = count_trials(trials)
    spent = total_cost(trials)
    budget = spec.budget
    stop: StopReason | None = None
    if goal_reached(spec, trials):
        stop, message = StopReason.GOAL_REACHED, f"objective reached the goal {budget.goal}"
    elif budget.max_failed_trials is not None and counts.failed > budget.max_failed_trials:
        stop = StopReason.TOO_MANY_FAILURES
        message = (
            f"{counts.failed} trials failed, more than maxFailedTrials "
            f"{budget.max_failed_trials}"
        )
    elif budget.max_total_cost is not None and spent >= budget.max_total_cost:
        stop = StopReason.COST_BUDGET_SPENT
        message = f"total cost {spent:.4g} reached maxTotalCost {budget.max_total_cost:.4g}"
    elif counts.finished >= budget.max_trials:
        stop = StopReason.MAX_TRIALS_REACHED
        message = f"{counts.finished} trials finished (maxTrials {budget.max_trials})"
    else:
        message = f"{counts.finished}/{budget.max_trials} trials finished"
    if counts.early_stopped:
        message += f" ({counts.early_stopped} stopped early)"
    start = 0
    if stop is None and not spec.suspend:
        room = spec.parallelism - counts.in_flight
        remaining = budget.max_trials - counts.counted
        start = max(0, min(room, remaining))
    if spec.suspend and stop is None:
        message = "suspended: " + message
    return Decision(
        start=start,
        stop_reason=stop,
        complete=stop is not None and counts.in_flight == 0,
        counts=counts,
        total_cost=spent,
        message=message,
    )


@dataclass(frozen=True)
class Outcome:
    """How a finished workload concludes its trial."""

    phase: TrialPhase
    metrics: Mapping[str, float]
    objective: float | None
    cost: float | None
    failure_reason: str | None


def measured_cost(spec: StudySpec, runtime_seconds: float, gpus: int,
                  gpu_seconds: float | None = None) -> float | None:
    """The cost a study with a measured cost source gives a workload that ran this long;
    None when cost is a reported metric, or nothing was measured. A finished trial's cost
    and a running trial's cost so far are both this, so they compare."""
    if spec.cost.metric is not None:
        return None
    measured: float | None = None
    factor = gpus if spec.cost.source == CostSource.GPU_SECONDS else 1
    if math.isfinite(runtime_seconds) and runtime_seconds > 0 and factor > 0:
        measured = runtime_seconds * factor
    if gpu_seconds is not None and spec.cost.source == CostSource.GPU_SECONDS:
        measured = gpu_seconds if gpu_seconds > 0 else None
    return measured


def conclude_trial(
    spec: StudySpec,
    *,
    workload_failure: str | None,
    result_text: str | None,
    runtime_seconds: float,
    gpus: int,
    gpu_seconds: float | None = None,
) -> Outcome:
    """Succeeded only with a clean exit and a result holding a finite objective and cost.

    `workload_failure` is the runtime's reason the workload failed (non-zero exit, timeout,
    evicted pod), or None. A malformed result fails this trial with the parser's reason;
    nothing here raises on user data. A failed trial still carries its measured cost when
    the study measures cost (runtime or GPU seconds), since that compute was spent.
    """
    from carbs_operator.results import ResultError, extract_objective_and_cost, parse_result

    measured = measured_cost(spec, runtime_seconds, gpus, gpu_seconds)
    if workload_failure is not None:
        return Outcome(TrialPhase.FAILED, {}, None, measured, workload_failure)
    if result_text is None or not result_text.strip():
        reason = (
            "no result: the trial exited cleanly without reporting one "
            "(call carbs_operator.report(...) at the end of training)"
        )
        return Outcome(TrialPhase.FAILED, {}, None, measured, reason)
    try:
        metrics = parse_result(result_text)
    except ResultError as error:
        return Outcome(TrialPhase.FAILED, {}, None, measured, f"malformed result: {error}")
    try:
        objective, cost = extract_objective_and_cost(metrics, spec, runtime_seconds, gpus,
                                                     gpu_seconds)
    except ResultError as error:
        return Outcome(TrialPhase.FAILED, metrics, None, measured, f"unusable result: {error}")
    return Outcome(TrialPhase.SUCCEEDED, metrics, objective, cost, None)
