"""How an EarlyStopped trial counts: finished, toward maxTrials and maxTotalCost, never a
failure; and how it reads in the study's status and in a CarbsTrial."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.models import CarbsTrial, StudySpec, TrialPhase
from carbs_operator.status import study_status
from carbs_operator.study import StopReason, TrialRecord, measured_cost, study_decision
from tests.operator.manifest_cases import trial
from tests.support.builders import study_spec, trial_record

P = TrialPhase


def spec(**budget: Any) -> StudySpec:
    return study_spec(budget={"maxTrials": 4, "maxFailedTrials": 0, **budget},
                      earlyStopping={"rule": "Frontier"})


def record(index: int, phase: TrialPhase, objective: float | None = None,
           cost: float | None = None) -> TrialRecord:
    stop = None
    if phase == P.EARLY_STOPPED:
        stop = StopDecision("worse than the frontier", 3, objective or 0.0, cost)
    return trial_record(index, phase, objective=objective, cost=cost, early_stop=stop,
                        params={"lr": 1e-3, "width": 64, "dropout": 0.1, "momentum": 0.0},
                        curve=(CurvePoint(3, objective or 0.0, cost),))


def test_early_stopped_is_finished_and_counts_toward_max_trials_not_failures() -> None:
    study = spec()
    trials = [record(0, P.SUCCEEDED, 0.5, 10.0), record(1, P.EARLY_STOPPED, 0.9, 2.0),
              record(2, P.EARLY_STOPPED, 0.8, 3.0)]
    assert P.EARLY_STOPPED.is_finished
    decision = study_decision(study, trials)
    assert decision.counts.early_stopped == 2
    assert decision.counts.finished == 3
    assert decision.counts.failed == 0
    # maxFailedTrials is 0: two stopped trials are no failures.
    assert decision.stop_reason is None
    assert decision.start == 1  # one left of maxTrials 4
    assert "2 stopped early" in decision.message
    done = study_decision(study, [*trials, record(3, P.EARLY_STOPPED, 0.7, 1.0)])
    assert done.stop_reason == StopReason.MAX_TRIALS_REACHED
    assert done.complete


def test_early_stopped_cost_counts_toward_max_total_cost() -> None:
    study = spec(maxTotalCost=12.0)
    trials = [record(0, P.SUCCEEDED, 0.5, 10.0), record(1, P.EARLY_STOPPED, 0.9, 2.0)]
    decision = study_decision(study, trials)
    assert decision.total_cost == 12.0
    assert decision.stop_reason == StopReason.COST_BUDGET_SPENT


def test_the_study_status_counts_early_stopped_trials() -> None:
    study = spec()
    trials = [record(0, P.SUCCEEDED, 0.5, 10.0), record(1, P.EARLY_STOPPED, 0.4, 2.0),
              record(2, P.RUNNING)]
    status = study_status(study, trials, [], 1, None, datetime(2026, 1, 1, tzinfo=UTC),
                          study="digits")
    assert status.trials.early_stopped == 1
    assert status.trials.failed == 0
    assert status.progress == "2/4"
    assert status.total_cost == 12.0
    # A stopped trial was not measured at its parameters' full cost: never the best, never
    # on the frontier, even though its objective so far looks better.
    assert status.best_trial is not None
    assert status.best_trial.index == 0
    assert [p.trial for p in status.pareto_frontier] == ["digits-0"]
    assert status.model_dump(by_alias=True, mode="json")["trials"]["earlyStopped"] == 1


def test_a_measured_cost_so_far_is_the_finished_trials_rule() -> None:
    gpu_spec = study_spec(cost={"source": "gpuSeconds"})
    assert measured_cost(gpu_spec, 10.0, gpus=2) == 20.0
    assert measured_cost(gpu_spec, 10.0, gpus=2, gpu_seconds=7.0) == 7.0
    assert measured_cost(gpu_spec, 0.0, gpus=2) is None
    assert measured_cost(spec(), 10.0, gpus=2) is None  # cost is a reported metric


def test_an_early_stopped_trial_round_trips_camel_case() -> None:
    obj = trial()
    obj["status"] = {
        "phase": "EarlyStopped", "objective": 0.9, "cost": 2e8,
        "learningCurve": [{"step": 1, "objective": 0.9, "cost": 2e8}],
        "earlyStop": {"reason": "worse", "step": 1, "objective": 0.9, "cost": 2e8},
        "progressWarning": "1 malformed progress line skipped",
    }
    parsed = CarbsTrial.model_validate(obj)
    assert parsed.status is not None
    assert parsed.status.phase == P.EARLY_STOPPED
    assert parsed.status.early_stop is not None
    assert parsed.status.early_stop.step == 1
    dumped = parsed.model_dump(by_alias=True, mode="json", exclude_none=True)
    assert dumped["status"] == obj["status"]
