"""What we add beyond the reference: seeding, state, batches, expiry, cost limits, laws."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from carbs_optimizer import (
    CARBS,
    LinearSpace,
    LogSpace,
    ObservationInParam,
    Param,
    StateError,
)
from tests.optimizer.conftest import fast_config, toy_objective


def run(engine: CARBS, steps: int) -> list[dict[str, float]]:
    points = []
    for _ in range(steps):
        suggestion = engine.suggest().suggestion
        points.append({k: v for k, v in suggestion.items() if k != "suggestion_uuid"})
        output, cost = toy_objective(suggestion)
        engine.observe(ObservationInParam(suggestion, output, cost))
    return points


def test_same_seed_same_suggestions_and_global_rng_untouched(params: list[Param]) -> None:
    torch.manual_seed(1234)
    expected_global = torch.rand(3)
    torch.manual_seed(1234)
    first = run(CARBS(fast_config(seed=7), params), 8)
    second = run(CARBS(fast_config(seed=7), params), 8)
    assert first == second
    assert torch.equal(torch.rand(3), expected_global)  # the engine never drew from it
    assert run(CARBS(fast_config(seed=8), params), 8) != first


def resample_positions(engine: CARBS, steps: int, noise_sd: float = 0.0) -> list[int]:
    """The 1-based suggestions that were resamples, with Gaussian noise on the toy output."""
    rng = random.Random(5)  # noqa: S311 - test noise, not secrets
    kinds = []
    for _ in range(steps):
        out = engine.suggest()
        kinds.append(out.log["suggestion_kind"])
        output, cost = toy_objective(out.suggestion)
        engine.observe(ObservationInParam(out.suggestion, output + rng.gauss(0, noise_sd), cost))
    return [i + 1 for i, kind in enumerate(kinds) if kind == "resample"]


def test_resample_schedule_matches_the_reference(params: list[Param]) -> None:
    """At the default frequency 5 a sequential loop resamples at suggestions 7, 12, 17
    (the noise rule off, as the reference has none)."""
    engine = CARBS(fast_config(resample_noise_ratio=0.0), params)
    assert resample_positions(engine, 17) == [7, 12, 17]


def test_resampling_pauses_while_the_noise_is_far_below_the_frontier_steps(
    params: list[Param],
) -> None:
    """A deterministic objective: the two re-runs return their first values exactly, so no
    third resample is spent. With noise as large as the frontier's steps, the schedule
    runs as the reference's."""
    assert resample_positions(CARBS(fast_config(), params), 27) == [7, 12]
    noisy = resample_positions(CARBS(fast_config(), params), 27, noise_sd=1.0)
    assert noisy == [7, 12, 17, 22, 27]


def test_a_backlog_of_observations_gives_one_resample_not_many(params: list[Param]) -> None:
    seed_engine = CARBS(fast_config(num_random_samples=30, resample_frequency=0), params)
    history = []
    for _ in range(30):
        out = seed_engine.suggest().suggestion
        output, cost = toy_objective(out)
        history.append(ObservationInParam(out, output, cost))
    engine = CARBS(fast_config(), params)
    engine.initialize_from_observations(history)
    kinds = [engine.suggest().log["suggestion_kind"] for _ in range(3)]
    assert kinds == ["resample", "bayesian", "bayesian"]


def test_resample_returns_a_frontier_input_exactly(params: list[Param]) -> None:
    engine = CARBS(fast_config(), params)
    run(engine, 6)
    out = engine.suggest()
    assert out.log["suggestion_kind"] == "resample"
    frontier_inputs = [
        engine.basic_to_param(g[0].real_number_input)
        for g in engine.pareto_groups(conservative=False)
    ]
    point = {k: v for k, v in out.suggestion.items() if k != "suggestion_uuid"}
    assert point in frontier_inputs


def test_state_round_trip_is_strict_json_and_continues_identically(params: list[Param]) -> None:
    engine = CARBS(fast_config(seed=5), params)
    run(engine, 7)
    engine.suggest()  # one pending suggestion travels with the state
    engine.observe(
        ObservationInParam({"p1": 0.1, "p2": 0.0, "p3": 0.5, "width": 8}, math.nan, 1.0)
    )
    text = json.dumps(engine.to_state(), allow_nan=False)
    restored = CARBS.from_state(json.loads(text))
    assert len(restored.success_observations) == len(engine.success_observations)
    assert len(restored.failure_observations) == 1
    assert restored.outstanding_suggestions.keys() == engine.outstanding_suggestions.keys()
    assert restored.resample_count == engine.resample_count
    assert restored.suggest().suggestion == engine.suggest().suggestion


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda s: s.update(version=99), "version 99 is not supported"),
        (lambda s: s.update(format="pickle"), "not a CARBS state"),
        (lambda s: s["success_observations"][0].update(input=[1.0]), "expected 4 finite"),
        (lambda s: s["success_observations"][0].update(cost=-1.0), "positive cost"),
        (lambda s: s.update(rng_state="not base64!"), "rng_state"),
        (lambda s: s.update(resample_count=-1), "resample_count"),
        (lambda s: s.update(extra_field=1), "extra_field"),
        (lambda s: s["params"][0]["space"].update(kind="cubic"), "kind"),
        (lambda s: s["config"].update(better_direction_sign=3), "better_direction_sign"),
    ],
)
def test_tampered_state_is_rejected_with_a_clear_error(
    params: list[Param], tamper: object, message: str
) -> None:
    engine = CARBS(fast_config(), params)
    run(engine, 2)
    state = json.loads(json.dumps(engine.to_state()))
    tamper(state)  # type: ignore[operator]
    with pytest.raises(StateError, match=message):
        CARBS.from_state(state)


def test_suggest_batch_spreads_pending_points(params: list[Param]) -> None:
    engine = CARBS(fast_config(), params)
    run(engine, 8)
    batch = engine.suggest_batch(4)
    assert len(batch) == 4
    assert len(engine.outstanding_suggestions) == 4
    points = {tuple(sorted((k, v) for k, v in b.suggestion.items() if k != "suggestion_uuid"))
              for b in batch}
    assert len(points) == 4


def test_pending_suggestions_expire_after_their_age_limit(params: list[Param]) -> None:
    now = [1000.0]
    engine = CARBS(
        fast_config(outstanding_suggestion_max_age_seconds=60), params, clock=lambda: now[0]
    )
    engine.suggest()
    now[0] += 30
    engine.suggest()
    assert len(engine.outstanding_suggestions) == 2
    now[0] += 45  # the first is 75 s old now, the second 45 s
    engine.suggest()
    assert len(engine.outstanding_suggestions) == 2


def cost_problem() -> tuple[list[Param], list[ObservationInParam]]:
    params = [Param("size", LogSpace(min=1, max=1e4), 10), Param("x", LinearSpace(-2, 2), 0)]
    history = []
    for size in (3.0, 10.0, 30.0, 100.0, 300.0):
        for x in (-0.5, 0.0, 0.5):
            history.append(ObservationInParam(
                {"size": size, "x": x}, -1.0 / math.sqrt(size) - x * x, size
            ))
    return params, history


def test_max_suggestion_cost_is_respected_by_prediction() -> None:
    params, history = cost_problem()
    engine = CARBS(fast_config(max_suggestion_cost=50.0, resample_frequency=0), params)
    engine.initialize_from_observations(history)
    for _ in range(4):
        out = engine.suggest()
        assert out.log["cost_estimate"] < 50.0
        assert "cost_limit_unmet" not in out.log


def test_unmeetable_cost_limit_picks_the_cheapest_candidate_not_a_random_one() -> None:
    params, history = cost_problem()
    engine = CARBS(fast_config(max_suggestion_cost=1e-3, resample_frequency=0), params)
    engine.initialize_from_observations(history)
    out = engine.suggest()
    assert out.log["cost_limit_unmet"] is True
    assert out.suggestion["size"] < 10  # pulled toward the cheap end, not anywhere


def test_scaling_laws_recover_a_planted_exponent() -> None:
    params = [Param("n", LogSpace(min=1, max=1e8), 100), Param("lr", LogSpace(1e-6, 1), 1e-3)]
    engine = CARBS(fast_config(min_pareto_cost_fraction=0.0), params)
    for i, cost in enumerate([1e2, 1e3, 1e4, 1e5, 1e6]):
        n = cost**0.5
        engine.observe(ObservationInParam({"n": n, "lr": 1e-3}, float(i), cost))
    laws = {law.parameter: law for law in engine.scaling_laws()}
    assert laws["n"].exponent == pytest.approx(0.5)
    assert laws["n"].r2 == pytest.approx(1.0)
    assert laws["n"].predict(1e8) == pytest.approx(1e4)
    assert laws["lr"].exponent == pytest.approx(0.0, abs=1e-9)


def test_large_histories_train_on_a_bounded_subset() -> None:
    params = [Param("x", LinearSpace(-3, 3), 0.0), Param("y", LinearSpace(-3, 3), 0.0)]
    engine = CARBS(fast_config(max_gp_training_points=40, resample_frequency=0), params)
    generator = torch.Generator().manual_seed(0)
    for _ in range(120):
        x, y = (torch.rand(2, generator=generator) * 4 - 2).tolist()
        engine.observe(ObservationInParam({"x": x, "y": y}, -(x * x + y * y), 1 + abs(x)))
    index = engine._training_index(engine.pareto_groups())
    assert index is not None
    assert len(index) == 40
    assert engine.suggest().log["suggestion_kind"] == "bayesian"


def test_points_observed_outside_the_bounds_are_never_suggested() -> None:
    """An out-of-bounds observation (older data, or bounds narrowed since) that tops the
    frontier is neither resampled verbatim nor a dead end for the candidates around it."""
    params = [Param("x", LinearSpace(min=-1, max=1), 0.0),
              Param("lr", LogSpace(min=1e-4, max=1), 1e-2)]
    engine = CARBS(fast_config(num_random_samples=2), params)
    engine.observe(ObservationInParam({"x": 3.0, "lr": 1e-2}, 100.0, 1.0))  # far the best
    kinds = []
    for _ in range(10):
        out = engine.suggest()
        kinds.append(out.log["suggestion_kind"])
        x = out.suggestion["x"]
        assert -1 < x < 1, out
        assert 1e-4 < out.suggestion["lr"] < 1, out
        engine.observe(ObservationInParam(out.suggestion, -x * x, 1.0 + abs(x)))
    assert "resample" not in kinds  # the only frontier point was outside; nothing re-run
    assert kinds.count("bayesian") >= 5
