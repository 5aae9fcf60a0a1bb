"""How the search spreads: along the cost axis, away from a mid-range center, without repeats.

A small Chinchilla-like problem: loss falls with model size and data (a power law), cost is
their product. Everything here is the engine's own behaviour on a cheap closed-form
objective, so each test runs in seconds on the CPU.
"""

from __future__ import annotations

import math

import pytest
import torch

from carbs_optimizer import CARBS, LinearSpace, LogSpace, ObservationInParam, Param
from carbs_optimizer.cost_targets import (
    BAG_SIZE,
    fill_position,
    target_logcost,
    target_position,
    window_mask,
)
from tests.optimizer.conftest import fast_config


def scaling_params(center_size: float, center_data: float) -> list[Param]:
    return [
        Param("size", LogSpace(min=1e6, max=1e10), center_size),
        Param("data", LogSpace(min=1e7, max=1e12), center_data),
        Param("lr", LogSpace(min=1e-5, max=1e-1), 1e-3),
    ]


def scaling_loss(point: dict[str, float]) -> tuple[float, float]:
    """(loss to minimise, cost)."""
    size, data, lr = point["size"], point["data"], point["lr"]
    loss = 1.7 + 400 / size**0.34 + 400 / data**0.28 + 0.1 * math.log10(lr / 3e-3) ** 2
    return loss, 6 * size * data


def observed_costs(engine: CARBS, steps: int) -> list[float]:
    costs = []
    for _ in range(steps):
        suggestion = engine.suggest().suggestion
        loss, cost = scaling_loss(suggestion)
        engine.observe(ObservationInParam(suggestion, loss, cost))
        costs.append(cost)
    return costs


def test_target_positions_cover_the_range_past_both_ends_once_per_cycle() -> None:
    positions = [target_position(seed=3, index=i, margin=0.2) for i in range(BAG_SIZE)]
    assert sorted(positions) == pytest.approx(
        [-0.2 + k * 1.4 / (BAG_SIZE - 1) for k in range(BAG_SIZE)]
    )
    # Replayed studies draw the same targets; another seed orders them differently.
    assert positions == [target_position(3, i, 0.2) for i in range(BAG_SIZE)]
    orders = {tuple(target_position(s, i, 0.2) for i in range(BAG_SIZE)) for s in range(8)}
    assert len(orders) > 1


def test_a_target_past_the_range_moves_at_least_the_minimum_step() -> None:
    low, high = math.log(1e10), math.log(1.1e10)  # nearly no span yet
    assert target_logcost(-0.2, low, high, min_step=1.0) == pytest.approx(low - 1.0)
    assert target_logcost(1.2, low, high, min_step=1.0) == pytest.approx(high + 1.0)
    assert target_logcost(0.5, low, high, min_step=1.0) == pytest.approx((low + high) / 2)


def test_window_keeps_the_candidates_as_near_as_the_nearest() -> None:
    predicted = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    assert window_mask(predicted, target=7.2, tolerance=0.9).tolist() == (
        [False] * 6 + [False, True, True, False]
    )
    # Out of reach: only the extreme band competes, so the step toward it is taken in full.
    assert window_mask(predicted, target=-5.0, tolerance=1.5).tolist() == (
        [True, True] + [False] * 8
    )


def test_fill_goes_to_the_emptiest_bin() -> None:
    crowded_cheap_end = [0.1, 0.2, 0.3, 0.4, 1.6, 2.4, 3.3, 3.9]  # range 0..4, 4 bins
    assert fill_position(crowded_cheap_end, 0.0, 4.0, bins=4) == pytest.approx(
        1.5 / 4  # bin 1 (1..2) holds one trial, every other bin at least two
    )
    # Costs past the range count in the end bins; ties go by `tie`, not always cheapest.
    assert fill_position([-3.0, 9.0], 0.0, 4.0, bins=4, tie=0.0) == pytest.approx(1.5 / 4)
    assert fill_position([-3.0, 9.0], 0.0, 4.0, bins=4, tie=0.99) == pytest.approx(2.5 / 4)
    assert fill_position([], 1.0, 1.0, bins=4) == 0.5  # no range yet


def test_filled_targets_go_past_a_crowded_cheap_end() -> None:
    """Ten trials crowd the cheapest decade of a five-decade range, one sits in each other
    decade: every filled target lies above the crowd (the bag alone puts one interior
    target in four into the cheapest fifth of the range)."""
    engine = CARBS(fast_config(better_direction_sign=-1, seed=3), scaling_params(1e7, 1e8))
    sizes = [1.0e6 * 1.25**k for k in range(10)] + [1e7, 1e8, 1e9, 1e10]
    for size in sizes:
        point = {"size": size, "data": 1e8, "lr": 1e-3}
        engine.observe(ObservationInParam(point, *scaling_loss(point)))
    crowd_top = 6 * sizes[9] * 1e8
    filled = []
    for _ in range(12):
        output = engine.suggest()
        if output.log.get("cost_target_filled"):
            filled.append(output.log["cost_target"])
    # Pending suggestions count at their predicted cost, so the filled targets spread.
    assert len(filled) >= 3
    assert len(set(filled)) >= 2
    assert min(filled) > crowd_top


def test_suggestions_cover_the_cost_axis_from_a_mid_range_center() -> None:
    """From a center at 6e17, the study reaches a decade below and a decade above it.

    Before cost targets the engine only climbed: nothing cheaper than the center's
    neighbourhood was ever measured, so the cheap half of the frontier stayed empty.
    """
    center_cost = 6 * 1e8 * 1e9
    engine = CARBS(fast_config(better_direction_sign=-1, seed=0), scaling_params(1e8, 1e9))
    costs = observed_costs(engine, 30)
    assert min(costs) <= center_cost / 10
    assert max(costs) >= center_cost * 10
    # Spread, not two clusters: every decade in between holds a trial.
    decades = {math.floor(math.log10(c)) for c in costs}
    low, high = math.floor(math.log10(min(costs))), math.floor(math.log10(max(costs)))
    assert decades >= set(range(low, high + 1))


def test_a_cheap_center_climbs_the_cost_axis() -> None:
    engine = CARBS(fast_config(better_direction_sign=-1, seed=1), scaling_params(3e6, 3e7))
    costs = observed_costs(engine, 36)
    assert max(costs) >= 6 * 3e6 * 3e7 * 300


def test_cost_targets_off_reproduces_the_upward_only_walk() -> None:
    """Without cost targets (the reference's behaviour) the mid-center study does not
    reach a decade under its center: the failure the targets fix."""
    center_cost = 6 * 1e8 * 1e9
    config = fast_config(better_direction_sign=-1, seed=0, is_cost_targeted=False)
    costs = observed_costs(CARBS(config, scaling_params(1e8, 1e9)), 30)
    assert min(costs) > center_cost / 10


def test_no_repeated_point_after_rounding() -> None:
    """An all-integer space where rounding makes repeats likely: no suggestion repeats an
    observed or pending point (resamples, the deliberate repeat, are switched off)."""
    params = [
        Param("layers", LinearSpace(min=1, max=6, is_integer=True), 2),
        Param("width", LogSpace(min=16, max=256, is_integer=True, rounding_factor=16), 64),
    ]
    engine = CARBS(fast_config(better_direction_sign=-1, resample_frequency=0), params)
    seen: list[tuple[float, float]] = []
    for _ in range(20):
        suggestion = engine.suggest().suggestion
        point = (float(suggestion["layers"]), float(suggestion["width"]))
        assert point not in seen
        seen.append(point)
        loss = 1 / point[0] + 10 / point[1]
        engine.observe(ObservationInParam(suggestion, loss, point[0] * point[1]))


def test_pending_points_are_not_suggested_twice() -> None:
    params = [Param("width", LogSpace(min=8, max=64, is_integer=True, rounding_factor=8), 16)]
    engine = CARBS(fast_config(better_direction_sign=-1, num_random_samples=2), params)
    for width in (8, 16, 32):
        engine.observe(ObservationInParam({"width": width}, 1 / width, width))
    batch = [out.suggestion["width"] for out in engine.suggest_batch(4)]
    assert len(set(batch)) == len(batch)


def test_a_target_below_the_cost_floor_is_dropped() -> None:
    """From a center at the lower bounds of size and data, nothing cheaper can be suggested.
    A target below the cheapest success is then out of reach; such a suggestion is left to
    expected improvement instead of repeating the floor (before, one suggestion in six did)."""
    # Filling off: it aims some interior targets at the floor's bin on purpose when that bin
    # is the emptiest, which is not the repeat this test is about.
    config = fast_config(better_direction_sign=-1, seed=2, cost_target_fill_bins=0)
    engine = CARBS(config, scaling_params(1.1e6, 1.1e7))
    floor = 6 * 1e6 * 1e7
    redirected = 0
    bayesian_near_floor = 0
    for _ in range(30):
        output = engine.suggest()
        loss, cost = scaling_loss(output.suggestion)
        if output.log.get("cost_target_floor_reached"):
            redirected += 1
            assert "cost_target" not in output.log
        kind = output.log["suggestion_kind"]
        if kind == "bayesian" and cost < 3 * floor:  # resamples re-run the cheap end
            bayesian_near_floor += 1
        engine.observe(ObservationInParam(output.suggestion, loss, cost))
    assert redirected >= 2
    assert bayesian_near_floor <= 3


def test_a_target_above_the_cost_cap_fills_the_range_instead() -> None:
    """Once the dearest trial sits at `max_suggestion_cost`, a target past the top cannot
    be reached; it goes to the emptiest part of the range instead of the cap again."""
    cap = 6 * 1e8 * 1e9 * 3
    def at_cap(bins: int) -> tuple[int, int]:
        config = fast_config(better_direction_sign=-1, seed=5, max_suggestion_cost=cap,
                             cost_target_fill_bins=bins)
        engine = CARBS(config, scaling_params(1e8, 1e9))
        near_cap = ceiling = 0
        for _ in range(36):
            output = engine.suggest()
            loss, cost = scaling_loss(output.suggestion)
            ceiling += bool(output.log.get("cost_target_ceiling_reached"))
            near_cap += output.log.get("suggestion_kind") == "bayesian" and cost > cap / 2
            engine.observe(ObservationInParam(output.suggestion, loss, cost))
        return near_cap, ceiling

    near_cap_filled, redirected = at_cap(8)
    near_cap_unfilled, never = at_cap(0)
    assert redirected >= 2
    assert never == 0
    assert near_cap_filled < near_cap_unfilled
