"""Categorical, ordinal, stepped and unbounded parameters in the engine."""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

import pytest
import torch

from carbs_optimizer import (
    CARBS,
    CategoricalSpace,
    LinearSpace,
    LogSpace,
    ObservationInParam,
    OrdinalSpace,
    Param,
)
from carbs_optimizer.discrete import InputEncoding, propose, switch_probability
from tests.optimizer.conftest import fast_config

CHOICES = ["adam", "sgd", "lion", "adagrad"]
SIZES = [8, 16, 32, 64, 128, 256, 512, 1024]


def _loop(engine: CARBS, steps: int, objective: Any, cost: Any = None) -> list[dict[str, Any]]:
    seen = []
    for _ in range(steps):
        suggestion = engine.suggest().suggestion
        seen.append({k: v for k, v in suggestion.items() if k != "suggestion_uuid"})
        value = objective(suggestion)
        engine.observe(ObservationInParam(suggestion, value, cost(suggestion) if cost else 1.0))
    return seen


def test_categorical_optimum_is_found() -> None:
    """Only "lion" is good; the search starts at "adam" and must switch and stay there."""
    params = [
        Param("optimizer", CategoricalSpace(choices=CHOICES), "adam"),
        Param("x", LinearSpace(min=-2, max=2, scale=4), 0.0),
    ]
    engine = CARBS(fast_config(better_direction_sign=1, num_random_samples=3), params)
    seen = _loop(engine, 20, lambda s: (2.0 if s["optimizer"] == "lion" else 0.0) - s["x"] ** 2)
    assert all(s["optimizer"] in CHOICES and isinstance(s["optimizer"], str) for s in seen)
    late = Counter(s["optimizer"] for s in seen[10:])
    assert late.most_common(1)[0][0] == "lion", late
    best = max(engine.success_observations, key=lambda o: o.output)
    assert engine.basic_to_param(best.real_number_input)["optimizer"] == "lion"


def test_ordinal_search_steps_through_neighbours() -> None:
    """From 16 toward an optimum at 512: each new value first appears next to one already
    tried (the search walks the order), and the walk arrives."""
    params = [Param("batch", OrdinalSpace(values=SIZES), 16)]
    engine = CARBS(fast_config(better_direction_sign=1, num_random_samples=2), params)
    seen = _loop(engine, 24, lambda s: -abs(math.log2(s["batch"]) - 9))
    tried: list[int] = []
    jumps = []
    for point in seen:
        index = SIZES.index(point["batch"])
        if index not in tried:
            jumps.append(min(abs(index - t) for t in tried) if tried else 0)
            tried.append(index)
    assert SIZES.index(512) in tried, tried
    # Mostly next-door neighbours; a candidate two values away wins now and then.
    assert max(jumps) <= 2, jumps
    assert sum(j == 1 for j in jumps) * 2 >= len(jumps), jumps
    assert all(isinstance(p["batch"], int) for p in seen)


def test_ordinal_proposals_move_by_neighbours() -> None:
    space = OrdinalSpace(values=SIZES)
    origins = torch.full((4000, 1), 3.0, dtype=torch.float64)
    moved = propose([space], origins, origins.clone(), 0.3, torch.Generator().manual_seed(0))
    steps = Counter(int(v) - 3 for v in moved[:, 0].tolist())
    assert 0.5 < steps[0] / 4000 < 0.7  # stays put ~60% at the default radius
    assert steps[1] + steps[-1] > 5 * sum(n for s, n in steps.items() if abs(s) > 1)


def test_categorical_switch_rate_follows_the_radius() -> None:
    space = CategoricalSpace(choices=CHOICES)
    origins = torch.zeros(4000, 1, dtype=torch.float64)
    for radius in (0.1, 0.3, 1.0):
        moved = propose([space], origins, origins.clone(), radius, torch.Generator().manual_seed(1))
        rate = float((moved[:, 0] != 0).double().mean())
        assert abs(rate - switch_probability(radius)) < 0.03
        assert set(moved[:, 0].tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert switch_probability(0.1) < switch_probability(0.3) < switch_probability(1.0)


def test_one_hot_inputs_make_choices_exchangeable() -> None:
    encoding = InputEncoding([CategoricalSpace(choices=CHOICES), LinearSpace(), OrdinalSpace(
        values=["s", "m", "l"])])
    points = torch.tensor([[float(i), 0.5, 1.0] for i in range(4)], dtype=torch.float64)
    encoded = encoding.encode(points)
    assert encoded.shape == (4, encoding.dims) == (4, 6)
    distances = torch.cdist(encoded, encoded)
    off_diagonal = distances[~torch.eye(4, dtype=torch.bool)]
    assert torch.allclose(off_diagonal, off_diagonal[0])  # no choice nearer than another


def test_unbounded_parameter_walks_to_a_far_optimum() -> None:
    """No min or max: the optimum at 6 lies 20 initial search radii from the center at 0."""
    params = [Param("shift", LinearSpace(scale=1.0), 0.0)]
    engine = CARBS(fast_config(better_direction_sign=1, num_random_samples=2), params)
    seen = _loop(engine, 30, lambda s: -((s["shift"] - 6.0) ** 2))
    reached = max(s["shift"] for s in seen)
    # No wall stops it: past 1 (where a [-1, 1] box would end it, over three initial radii
    # out) after 30 trials, and still heading on.
    walk = [round(s["shift"], 2) for s in seen]
    assert reached > 1.0, walk
    early, late = (sum(s["shift"] for s in part) / 5 for part in (seen[:5], seen[-5:]))
    assert late > early + 0.6, walk
    assert all(s["shift"] < 6.0 + 3.0 for s in seen), walk  # toward the optimum, not past it


def test_stepped_values_lie_on_their_grid() -> None:
    params = [
        Param("dropout", LinearSpace(min=0.05, max=0.5, step=0.05), 0.1),
        Param("lr", LogSpace(min=1e-4, max=1e-1, step=1e-4), 1e-2),
    ]
    engine = CARBS(fast_config(num_random_samples=3), params)
    for s in _loop(engine, 8, lambda s: -abs(s["dropout"] - 0.3) - abs(math.log10(s["lr"]) + 3)):
        assert 0.05 <= s["dropout"] <= 0.5
        assert s["dropout"] == round(s["dropout"], 2)
        assert 1e-4 <= s["lr"] <= 1e-1
        assert abs(s["lr"] / 1e-4 - round(s["lr"] / 1e-4)) < 1e-9


@pytest.mark.parametrize(("bad", "message"), [
    (lambda: CategoricalSpace(choices=[]), "must not be empty"),
    (lambda: CategoricalSpace(choices=["a", "a"]), "unique"),
    (lambda: OrdinalSpace(values=[1, "a"]), "all numbers or all strings"),
    (lambda: LinearSpace(min=0, max=1, step=0.3), "does not divide"),
    (lambda: Param("o", CategoricalSpace(choices=["a", "b"]), "c"), "not one of the choices"),
    (lambda: Param("x", LinearSpace(), "a"), "must be a number"),
])
def test_bad_spaces_are_refused(bad: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bad()


def test_mixed_state_round_trips_through_json() -> None:
    params = [
        Param("optimizer", CategoricalSpace(choices=CHOICES), "sgd"),
        Param("batch", OrdinalSpace(values=SIZES), 64),
        Param("dropout", LinearSpace(min=0.0, max=0.5, step=0.1), 0.2),
        Param("x", LinearSpace(scale=2.0), 1.0),
    ]
    engine = CARBS(fast_config(num_random_samples=2), params)
    _loop(engine, 3, lambda s: float(SIZES.index(s["batch"])))
    pending = engine.suggest()
    document = json.loads(json.dumps(engine.to_state(), allow_nan=False))
    again = CARBS.from_state(document)
    assert again.params == engine.params
    assert again.suggest().suggestion == engine.suggest().suggestion
    assert pending.suggestion["suggestion_uuid"] in again.outstanding_suggestions
    with pytest.raises(ValueError, match="optimizer"):
        engine.observe(ObservationInParam({**pending.suggestion, "optimizer": "rmsprop"}, 1.0))
