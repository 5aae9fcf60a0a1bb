"""The reference-compatible surface: code written for imbue-ai/carbs runs unchanged."""

from __future__ import annotations

import math

import pytest

from carbs_optimizer import (
    CARBS,
    SUGGESTION_ID_DICT_KEY,
    CARBSParams,
    LinearSpace,
    LogSpace,
    ObservationInParam,
    Param,
)
from tests.optimizer.conftest import fast_config, toy_objective


def test_reference_style_construction_is_accepted(params: list[Param]) -> None:
    """The reference's own tests build CARBSParams with wandb/checkpoint flags."""
    config = CARBSParams(is_wandb_logging_enabled=False, is_saved_on_every_observation=False)
    assert config.initial_search_radius == 0.3
    assert config.num_random_samples == 4
    assert config.resample_frequency == 5
    assert config.min_pareto_cost_fraction == 0.2
    assert config.exploration_bias == 1.0
    assert config.num_candidates_for_suggestion_per_dim == 100
    engine = CARBS(config, params)
    assert engine.params == params


def test_suggest_one(carbs_instance: CARBS) -> None:
    before = len(carbs_instance.outstanding_suggestions)
    suggestion = carbs_instance.suggest()
    assert len(carbs_instance.outstanding_suggestions) == before + 1
    assert SUGGESTION_ID_DICT_KEY in suggestion.suggestion
    for param in carbs_instance.params:
        assert param.name in suggestion.suggestion
    assert isinstance(suggestion.log, dict)


def test_suggest_observe_ten(carbs_instance: CARBS) -> None:
    for i in range(10):
        suggestion = carbs_instance.suggest()
        carbs_instance.observe(
            ObservationInParam(input=suggestion.suggestion, output=i, cost=i + 1)
        )
    assert len(carbs_instance.outstanding_suggestions) == 0
    assert len(carbs_instance.success_observations) == 10


def test_observe_success_and_failure(carbs_instance: CARBS) -> None:
    center = {p.name: p.search_center for p in carbs_instance.params}
    carbs_instance.observe(ObservationInParam(input=center, output=1, cost=1))
    carbs_instance.observe(ObservationInParam(input=center, output=1, cost=1, is_failure=True))
    assert len(carbs_instance.success_observations) == 1
    assert len(carbs_instance.failure_observations) == 1


def test_forget(carbs_instance: CARBS) -> None:
    suggestion = carbs_instance.suggest()
    carbs_instance.forget_suggestion(suggestion.suggestion)
    assert carbs_instance.outstanding_suggestions == {}


def test_observe_does_not_mutate_the_callers_input(carbs_instance: CARBS) -> None:
    """The reference popped `suggestion_uuid` out of the caller's dict."""
    suggestion = carbs_instance.suggest().suggestion
    copy = dict(suggestion)
    carbs_instance.observe(ObservationInParam(input=suggestion, output=0.5, cost=2))
    assert suggestion == copy


@pytest.mark.parametrize("output", [math.nan, math.inf, -math.inf])
def test_non_finite_output_counts_as_failure(carbs_instance: CARBS, output: float) -> None:
    suggestion = carbs_instance.suggest().suggestion
    carbs_instance.observe(ObservationInParam(input=suggestion, output=output, cost=1))
    assert len(carbs_instance.failure_observations) == 1
    assert not carbs_instance.success_observations


def test_failures_do_not_advance_the_random_phase(carbs_instance: CARBS) -> None:
    for _ in range(6):
        out = carbs_instance.suggest()
        assert out.log["suggestion_kind"] == "random"
        carbs_instance.observe(
            ObservationInParam(input=out.suggestion, output=0, cost=1, is_failure=True)
        )
    assert carbs_instance.suggest().log["suggestion_kind"] == "random"


@pytest.mark.parametrize(
    ("observation", "message"),
    [
        (ObservationInParam(input={"p1": 0.1}, output=1.0), "lacks parameter 'p2'"),
        (
            ObservationInParam(input={"p1": "x", "p2": 0, "p3": 0.5, "width": 8}, output=1.0),
            "must be a number",
        ),
        (
            ObservationInParam(input={"p1": 0.1, "p2": 0, "p3": 0.5, "width": 8}, output=1, cost=0),
            "positive finite cost",
        ),
    ],
)
def test_bad_observations_are_rejected_with_a_reason(
    carbs_instance: CARBS, observation: ObservationInParam, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        carbs_instance.observe(observation)
    assert carbs_instance.observation_count == 0


def test_duplicate_param_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        CARBS(fast_config(), [Param("a", LinearSpace(), 0), Param("a", LinearSpace(), 1)])


def test_initialize_from_observations_moves_the_center(params: list[Param]) -> None:
    engine = CARBS(fast_config(), params)
    good = {"p1": 0.05, "p2": 1.0, "p3": 0.2, "width": 128}
    bad = {"p1": 0.001, "p2": -1.0, "p3": 0.7, "width": 16}
    engine.initialize_from_observations(
        [ObservationInParam(bad, 0.1, 1.0), ObservationInParam(good, 0.9, 2.0)]
    )
    assert engine.basic_to_param(engine.search_center_in_basic) == pytest.approx(good)
    assert len(engine.success_observations) == 2


def test_a_full_sequential_run_stays_in_bounds_and_improves(params: list[Param]) -> None:
    engine = CARBS(fast_config(seed=3), params)
    kinds = []
    outputs = []
    for _ in range(16):
        out = engine.suggest()
        kinds.append(out.log["suggestion_kind"])
        for param in params:
            value = out.suggestion[param.name]
            assert param.space.min <= value <= param.space.max
            if param.space.is_integer:
                assert isinstance(value, int)
                assert value % param.space.rounding_factor == 0
        output, cost = toy_objective(out.suggestion)
        outputs.append(output)
        engine.observe(ObservationInParam(out.suggestion, output, cost))
    assert kinds[:4] == ["random"] * 4
    assert "bayesian" in kinds
    assert max(outputs[4:]) >= max(outputs[:4])


def test_integer_bounds_hold_in_the_random_phase() -> None:
    """The reference rounded random-phase samples after the bounds check: 10 → 12 > max."""
    space = LinearSpace(min=0, max=10, is_integer=True, rounding_factor=4, scale=20)
    engine = CARBS(fast_config(num_random_samples=100), [Param("n", space, 8)])
    for _ in range(200):
        value = engine.suggest(is_suggestion_remembered=False).suggestion["n"]
        assert value in (0, 4, 8)


def test_log_space_with_base_two(params: list[Param]) -> None:
    engine = CARBS(fast_config(), [Param("batch", LogSpace(min=1, max=1024, base=2), 32)])
    value = engine.suggest().suggestion["batch"]
    assert 1 <= value <= 1024
