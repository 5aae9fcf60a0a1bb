"""Study status: phases, conditions and their transition times, frontier and laws."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carbs_operator.models import (
    MAX_FRONTIER_POINTS,
    CarbsStudy,
    ConditionStatus,
    StudyPhase,
    StudySpec,
    StudyStatus,
    TrialPhase,
)
from carbs_operator.status import (
    COMPLETE,
    SUSPENDED,
    VALID,
    condition,
    study_status,
)
from carbs_operator.status import FAILED as FAILED_CONDITION
from carbs_operator.status import RUNNING as RUNNING_CONDITION
from carbs_operator.study import TrialRecord
from carbs_operator.validation import load_study
from carbs_optimizer import ScalingLaw
from tests.support.builders import EXAMPLE, digits_trial, example_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OK, FAILED, RUNNING = TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.RUNNING


@pytest.fixture
def spec() -> StudySpec:
    """The example's spec with the budget these tests count against pinned."""
    return example_spec(max_trials=30, max_failed_trials=5)


def _with(spec: StudySpec, **budget: Any) -> StudySpec:
    suspend = budget.pop("suspend", spec.suspend)
    return spec.model_copy(update={
        "budget": spec.budget.model_copy(update=budget), "suspend": suspend})


def _trial(index: int, phase: TrialPhase, objective: float | None = None,
           cost: float | None = None) -> TrialRecord:
    return digits_trial(index, phase, objective, cost, started_at=1_700_000_000.0 + index,
                        finished_at=1_700_000_100.0 + index if phase.is_finished else None)


def _status(spec: StudySpec, trials: list[TrialRecord], previous: StudyStatus | None = None,
            now: datetime = T0, laws: list[ScalingLaw] | None = None) -> StudyStatus:
    return study_status(spec, trials, laws or [], 3, previous, now, study="digits-mlp")


def test_pending_before_any_trial(spec: StudySpec) -> None:
    status = _status(spec, [])
    assert status.phase == StudyPhase.PENDING
    assert status.progress == "0/30"
    assert status.observed_generation == 3
    assert status.best_trial is None
    assert status.start_time is None
    complete = condition(status, COMPLETE)
    assert complete is not None
    assert complete.status == ConditionStatus.FALSE
    assert complete.reason == "InProgress"
    assert complete.observed_generation == 3
    valid = condition(status, VALID)
    assert valid is not None
    assert valid.status == ConditionStatus.TRUE


def test_running_counts_best_and_frontier(spec: StudySpec) -> None:
    trials = [_trial(0, OK, 0.5, 1e9), _trial(1, OK, 0.3, 1e10), _trial(2, OK, 0.4, 2e10),
              _trial(3, FAILED, cost=1e8), _trial(4, RUNNING)]
    status = _status(spec, trials)
    assert status.phase == StudyPhase.RUNNING
    assert status.progress == "4/30"
    assert (status.trials.total, status.trials.succeeded, status.trials.failed,
            status.trials.running) == (5, 3, 1, 1)
    assert status.total_cost == pytest.approx(1e9 + 1e10 + 2e10 + 1e8)
    assert status.best_trial is not None
    assert status.best_trial.name == "digits-mlp-1"
    assert status.best_trial.objective == 0.3
    assert [p.trial for p in status.pareto_frontier] == ["digits-mlp-0", "digits-mlp-1"]
    assert status.start_time == datetime.fromtimestamp(1_700_000_000.0, tz=UTC)
    assert status.completion_time is None


@pytest.mark.parametrize(("budget", "trials", "phase", "reason"), [
    ({"goal": 0.35}, [_trial(0, OK, 0.3, 1e9)], StudyPhase.SUCCEEDED, "GoalReached"),
    ({"max_trials": 2}, [_trial(0, OK, 0.5, 1e9), _trial(1, OK, 0.4, 1e9)],
     StudyPhase.SUCCEEDED, "MaxTrialsReached"),
    ({"max_total_cost": 1e9}, [_trial(0, OK, 0.5, 2e9)], StudyPhase.SUCCEEDED,
     "CostBudgetSpent"),
    ({"max_failed_trials": 1}, [_trial(0, FAILED), _trial(1, FAILED)], StudyPhase.FAILED,
     "TooManyFailures"),
])
def test_complete_phases(spec: StudySpec, budget: dict[str, Any], trials: list[TrialRecord],
                         phase: StudyPhase, reason: str) -> None:
    status = _status(_with(spec, **budget), trials)
    assert status.phase == phase
    # As a batch/v1 Job: Complete=True means success only, Failed=True means failure.
    ended = condition(status, COMPLETE if phase == StudyPhase.SUCCEEDED else FAILED_CONDITION)
    other = condition(status, FAILED_CONDITION if phase == StudyPhase.SUCCEEDED else COMPLETE)
    assert ended is not None
    assert other is not None
    assert ended.status == ConditionStatus.TRUE
    assert other.status == ConditionStatus.FALSE
    assert ended.reason == reason
    assert ended.message
    running = condition(status, RUNNING_CONDITION)
    assert running is not None
    assert (running.status, running.reason) == (ConditionStatus.FALSE, str(phase))
    assert status.completion_time == datetime.fromtimestamp(
        max(t.finished_at or 0 for t in trials), tz=UTC)


def test_stopped_but_trials_in_flight_is_still_running(spec: StudySpec) -> None:
    status = _status(_with(spec, goal=0.35), [_trial(0, OK, 0.3, 1e9), _trial(1, RUNNING)])
    assert status.phase == StudyPhase.RUNNING
    complete = condition(status, COMPLETE)
    assert complete is not None
    assert complete.status == ConditionStatus.FALSE
    assert complete.reason == "WaitingForTrials"
    assert "1 trial(s) in flight" in complete.message


def test_suspended(spec: StudySpec) -> None:
    status = _status(_with(spec, suspend=True), [_trial(0, RUNNING)])
    assert status.phase == StudyPhase.SUSPENDED
    suspended = condition(status, SUSPENDED)
    assert suspended is not None
    assert suspended.status == ConditionStatus.TRUE
    assert suspended.reason == "SuspendRequested"
    # Completion wins over suspend.
    done = _status(_with(spec, suspend=True, max_trials=1), [_trial(0, OK, 0.3, 1e9)])
    assert done.phase == StudyPhase.SUCCEEDED


def test_transition_time_moves_only_when_status_flips(spec: StudySpec) -> None:
    later, latest = T0 + timedelta(minutes=5), T0 + timedelta(minutes=9)
    first = _status(spec, [_trial(0, RUNNING)], now=T0)
    # Message and reason change (more trials), status stays False: time kept.
    second = _status(spec, [_trial(0, OK, 0.4, 1e9), _trial(1, RUNNING)], first, now=later)
    complete = condition(second, COMPLETE)
    assert complete is not None
    assert complete.last_transition_time == T0
    # Suspending flips Suspended to True: its time moves, Complete's does not.
    third = _status(_with(spec, suspend=True), [_trial(0, OK, 0.4, 1e9)], second, now=latest)
    suspended, complete = condition(third, SUSPENDED), condition(third, COMPLETE)
    assert suspended is not None
    assert complete is not None
    assert suspended.last_transition_time == latest
    assert complete.last_transition_time == T0
    # The same input again gives the identical status (no needless API writes).
    assert _status(_with(spec, suspend=True), [_trial(0, OK, 0.4, 1e9)], third,
                   now=latest + timedelta(hours=1)) == third


def test_foreign_conditions_kept_and_start_time_sticky(spec: StudySpec) -> None:
    previous = _status(spec, [_trial(0, RUNNING)])
    previous.conditions.append(previous.conditions[0].model_copy(update={"type": "Custom"}))
    status = _status(spec, [], previous)
    assert condition(status, "Custom") is not None
    assert [c.type for c in status.conditions].count(COMPLETE) == 1
    assert status.start_time == previous.start_time


def test_frontier_is_bounded(spec: StudySpec) -> None:
    trials = [_trial(i, OK, 1.0 / (i + 1), 1e6 * (i + 1)) for i in range(MAX_FRONTIER_POINTS + 20)]
    status = _status(_with(spec, max_trials=200), trials)
    assert len(status.pareto_frontier) == MAX_FRONTIER_POINTS
    assert status.pareto_frontier[0].trial == "digits-mlp-0"
    assert status.pareto_frontier[-1].trial == f"digits-mlp-{len(trials) - 1}"


def test_scaling_laws_and_non_finite_results(spec: StudySpec) -> None:
    laws = [ScalingLaw("lr", "log", -0.2, -1.5, 0.9, 5),
            ScalingLaw("width", "log", None, None, None, 1),
            ScalingLaw("epochs", "log", math.nan, 0.0, 0.0, 5)]
    trials = [_trial(0, OK, math.nan, 1e9), _trial(1, OK, 0.4, math.inf), _trial(2, OK, 0.5, 1e9)]
    status = _status(spec, trials, laws=laws)
    assert [(law.parameter, law.slope, law.points) for law in status.scaling_laws] == [
        ("lr", -0.2, 5)]
    assert status.best_trial is not None
    assert status.best_trial.index == 2
    assert [p.trial for p in status.pareto_frontier] == ["digits-mlp-2"]
    assert status.trials.succeeded == 3  # counted as study_decision() counts them


def test_status_round_trips_through_the_resource(spec: StudySpec) -> None:
    """What the operator writes must be what the CRD model reads back."""
    trials = [_trial(0, OK, 0.5, 1e9), _trial(1, FAILED)]
    status = _status(spec, trials, laws=[ScalingLaw("lr", "log", -0.2, -1.5, 0.9, 5)])
    study = load_study(EXAMPLE).model_copy(update={"status": status})
    wire = study.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert wire["status"]["paretoFrontier"][0]["trial"] == "digits-mlp-0"
    assert wire["status"]["conditions"][0]["lastTransitionTime"].startswith("2026-01-01T00:00:00")
    assert CarbsStudy.model_validate(wire).status == status


def test_a_failed_study_is_never_complete_and_old_conditions_are_migrated(
    spec: StudySpec,
) -> None:
    """Reported: `kubectl wait --for=condition=Complete` succeeded on a Failed study, whose
    status said Complete=True with reason TooManyFailures. An object written so by an
    earlier operator is rewritten on the next pass."""
    trials = [_trial(0, FAILED), _trial(1, FAILED)]
    failing = _with(spec, max_failed_trials=1)
    old = _status(failing, trials)
    old.conditions = [c for c in old.conditions if c.type in (VALID, COMPLETE)]
    old.conditions[1] = old.conditions[1].model_copy(update={
        "status": ConditionStatus.TRUE, "reason": "TooManyFailures"})
    status = _status(failing, trials, old, now=T0 + timedelta(minutes=1))
    by_type = {c.type: (c.status, c.reason) for c in status.conditions}
    assert by_type == {
        VALID: (ConditionStatus.TRUE, "SpecValid"),
        COMPLETE: (ConditionStatus.FALSE, "StudyFailed"),
        FAILED_CONDITION: (ConditionStatus.TRUE, "TooManyFailures"),
        SUSPENDED: (ConditionStatus.FALSE, "NotSuspended"),
        RUNNING_CONDITION: (ConditionStatus.FALSE, "Failed"),
    }


def test_running_condition_while_trials_run(spec: StudySpec) -> None:
    status = _status(spec, [_trial(0, OK, 0.4, 1e9), _trial(1, RUNNING)])
    running = condition(status, RUNNING_CONDITION)
    failed = condition(status, FAILED_CONDITION)
    assert running is not None
    assert failed is not None
    assert (running.status, running.reason) == (ConditionStatus.TRUE, "TrialsRunning")
    assert (failed.status, failed.reason) == (ConditionStatus.FALSE, "WithinFailureBudget")
