"""The shared decision rules (study.py) and replay (replay.py), as pure functions."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.models import StudySpec, SuggestionKind, TrialPhase
from carbs_operator.replay import build_engine, carbs_params, engine_params
from carbs_operator.study import StopReason, TrialRecord, conclude_trial, study_decision
from carbs_operator.validation import load_study
from tests.support.builders import trial_record

P = TrialPhase


def spec_of(write_study: Callable[..., Path], **overrides: Any) -> StudySpec:
    return load_study(write_study(**overrides)).spec


def trial(index: int, phase: TrialPhase, objective: float | None = None,
          cost: float | None = None, kind: SuggestionKind | None = None) -> TrialRecord:
    return trial_record(index, phase, objective=objective, cost=cost,
                        params={"lr": 1e-3, "x": index / 10, "size": 10},
                        suggestion_id=f"s{index}", suggestion_kind=kind)


def test_parallelism_and_max_trials_bound_the_starts(write_study: Callable[..., Path]) -> None:
    spec = spec_of(write_study, parallelism=3, budget={"maxTrials": 4, "maxFailedTrials": 2})
    assert study_decision(spec, []).start == 3
    running = [trial(0, P.RUNNING), trial(1, P.RUNNING)]
    assert study_decision(spec, running).start == 1
    done = [trial(i, P.SUCCEEDED, 1.0, 1.0) for i in range(3)]
    assert study_decision(spec, done).start == 1  # only one left of maxTrials
    decision = study_decision(spec, [*done, trial(3, P.SUCCEEDED, 1.0, 1.0)])
    assert decision.stop_reason == StopReason.MAX_TRIALS_REACHED
    assert decision.complete
    assert decision.start == 0


def test_lost_trials_are_replaced_not_counted(write_study: Callable[..., Path]) -> None:
    spec = spec_of(write_study, parallelism=2, budget={"maxTrials": 2, "maxFailedTrials": 0})
    decision = study_decision(spec, [trial(0, P.LOST), trial(1, P.SUCCEEDED, 1.0, 1.0)])
    assert decision.start == 1
    assert decision.counts.lost == 1
    assert decision.stop_reason is None


def test_more_failures_than_allowed_stop_the_study(write_study: Callable[..., Path]) -> None:
    spec = spec_of(write_study, budget={"maxTrials": 10, "maxFailedTrials": 2})
    two = [trial(0, P.FAILED), trial(1, P.FAILED)]
    assert study_decision(spec, two).stop_reason is None
    decision = study_decision(spec, [*two, trial(2, P.FAILED), trial(3, P.RUNNING)])
    assert decision.stop_reason == StopReason.TOO_MANY_FAILURES
    assert not decision.complete  # one still in flight
    assert decision.start == 0


def test_goal_and_cost_budget(write_study: Callable[..., Path]) -> None:
    spec = spec_of(
        write_study, budget={"maxTrials": 10, "maxFailedTrials": 2, "goal": 0.5,
                             "maxTotalCost": 100.0}
    )
    assert study_decision(spec, [trial(0, P.SUCCEEDED, 0.6, 10)]).stop_reason is None
    reached = study_decision(spec, [trial(0, P.SUCCEEDED, 0.5, 10)])
    assert reached.stop_reason == StopReason.GOAL_REACHED
    spent = [trial(0, P.SUCCEEDED, 0.9, 60), trial(1, P.FAILED, None, 40)]
    assert study_decision(spec, spent[:1]).stop_reason is None
    assert study_decision(spec, spent).stop_reason == StopReason.COST_BUDGET_SPENT


def test_the_engine_caps_a_trial_at_a_tenth_of_the_cost_budget(
    write_study: Callable[..., Path],
) -> None:
    """maxSuggestionCost when given; else a tenth of maxTotalCost; else no cap."""
    budget = {"maxTrials": 10, "maxTotalCost": 500.0}
    assert carbs_params(spec_of(write_study, budget=budget)).max_suggestion_cost == 50.0
    explicit = spec_of(write_study, budget=budget, maxSuggestionCost=120.0)
    assert carbs_params(explicit).max_suggestion_cost == 120.0
    unbounded = spec_of(write_study, budget={"maxTrials": 10})
    assert carbs_params(unbounded).max_suggestion_cost is None


def test_suspend_starts_nothing(write_study: Callable[..., Path]) -> None:
    spec = spec_of(write_study, suspend=True)
    decision = study_decision(spec, [])
    assert decision.start == 0
    assert decision.message.startswith("suspended")


@pytest.mark.parametrize(
    ("failure", "result", "phase", "reason"),
    [
        ("exited with code 2", '{"loss": 1, "flops": 2}', P.FAILED, "exited with code 2"),
        (None, None, P.FAILED, "no result"),
        (None, "not json", P.FAILED, "malformed result"),
        (None, '{"loss": NaN, "flops": 2}', P.FAILED, "malformed result"),
        (None, '{"flops": 2}', P.FAILED, "'loss' is missing"),
        (None, '{"loss": 1, "flops": 0}', P.FAILED, "must be > 0"),
        (None, '{"loss": 1.5, "flops": 2}', P.SUCCEEDED, None),
    ],
)
def test_conclude_trial(
    write_study: Callable[..., Path], failure: str | None, result: str | None,
    phase: TrialPhase, reason: str | None,
) -> None:
    outcome = conclude_trial(
        spec_of(write_study), workload_failure=failure, result_text=result,
        runtime_seconds=3.0, gpus=0,
    )
    assert outcome.phase == phase
    if reason is None:
        assert outcome.failure_reason is None
        assert (outcome.objective, outcome.cost) == (1.5, 2.0)
    else:
        assert reason in (outcome.failure_reason or "")


def test_failed_trials_keep_their_measured_cost(write_study: Callable[..., Path]) -> None:
    spec = spec_of(write_study, cost={"source": "runtimeSeconds"})
    outcome = conclude_trial(spec, workload_failure="exited with code 1", result_text=None,
                             runtime_seconds=12.5, gpus=0)
    assert outcome.cost == 12.5


def test_replay_rebuilds_observations_pending_and_resamples(
    write_study: Callable[..., Path],
) -> None:
    spec = spec_of(write_study)
    trials = [
        trial(0, P.SUCCEEDED, 1.0, 10.0),
        trial(1, P.FAILED),
        trial(2, P.SUCCEEDED, 0.5, 10.0, kind=SuggestionKind.RESAMPLE),
        trial(3, P.LOST),
        trial(4, P.RUNNING),
        trial(5, P.PENDING),
    ]
    engine = build_engine(spec, trials, device="cpu")
    assert len(engine.success_observations) == 2
    assert len(engine.failure_observations) == 1
    assert set(engine.outstanding_suggestions) == {"s4", "s5"}
    assert engine.resample_count == 1
    assert engine.config.better_direction_sign == -1


def test_default_search_center_is_the_middle_of_the_space(
    write_study: Callable[..., Path],
) -> None:
    spec = spec_of(write_study)
    spec.parameters[0].search_center = None
    param = engine_params(spec)[0]
    assert param.search_center == pytest.approx(math.sqrt(1e-4 * 1.0))


def test_default_scale_is_the_width_of_a_linear_range(
    write_study: Callable[..., Path],
) -> None:
    """A linear [0, 100000] left at the reference's scale of 1 would never leave its center."""
    spec = spec_of(write_study)
    wide = spec.parameters[1].model_copy(update={"min": 0.0, "max": 100000.0,
                                                 "search_center": None})
    spec.parameters[1] = wide
    spec.parameters.append(wide.model_copy(update={"name": "pinned", "scale": 500.0}))
    scales = {p.name: p.space.scale for p in engine_params(spec)}
    assert scales == {"lr": 1.0, "x": 100000.0, "size": 1.0, "pinned": 500.0}
    engine = build_engine(spec, [], device="cpu")
    xs = [engine.suggest().suggestion["x"] for _ in range(12)]
    assert max(xs) - min(xs) > 20000  # the random phase spans the range


def test_without_max_failed_trials_failures_only_use_up_max_trials(
    write_study: Callable[..., Path],
) -> None:
    """maxFailedTrials left out: no failure limit (Katib's default); failed trials count
    toward maxTrials, so the study still ends there (MaxTrialsReached, not TooManyFailures)."""
    spec = spec_of(write_study, budget={"maxTrials": 5})
    assert spec.budget.max_failed_trials is None
    failed = [trial(i, P.FAILED) for i in range(4)]
    assert study_decision(spec, failed).stop_reason is None
    decision = study_decision(spec, [*failed, trial(4, P.FAILED)])
    assert decision.stop_reason == StopReason.MAX_TRIALS_REACHED
