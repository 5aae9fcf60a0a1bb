"""scaling_laws() reads each parameter's slope off one law over every trial where it can.

A Chinchilla-shaped objective (L = E + A/N^a + B/D^b, cost 6ND, a learning rate whose best
value falls with N) has a closed-form compute-optimal model size N* ∝ C^(b/(a+b)). Its
trials are scattered the way a search leaves them; the frontier's own line then reads the
few best-at-their-cost trials and misses the exponent, the joint law does not.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from carbs_optimizer import CARBS, LinearSpace, LogSpace, ObservationInParam, Param
from carbs_optimizer.carbs import _MIN_TARGET_STEP
from carbs_optimizer.cost_targets import CostTarget, target_logcost
from tests.optimizer.conftest import fast_config

E, A, B, A_EXP, B_EXP = 1.8, 480.0, 2100.0, 0.35, 0.37
N_EXPONENT = B_EXP / (A_EXP + B_EXP)
LR_EXPONENT = -0.25  # the best learning rate against N

PARAMS = [Param("n_params", LogSpace(min=1e6, max=1e11), 1e8),
          Param("tokens", LogSpace(min=1e8, max=1e13), 1e10),
          Param("lr", LogSpace(min=1e-5, max=1.0), 1e-3),
          Param("warmup", LinearSpace(min=0.0, max=1.0), 0.5)]


def best_n(compute: float) -> float:
    g = (A_EXP * A / (B_EXP * B)) ** (1.0 / (A_EXP + B_EXP))
    return float(g * (compute / 6.0) ** N_EXPONENT)


def observe_study(engine: CARBS, seed: int, *, cost_of: object = None, count: int = 60) -> None:
    """`count` trials over three decades of compute: N ±0.5 decades about N*, lr ±0.7 decades
    about its best, warmup anywhere (the loss ignores it); loss noise 0.005."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        compute = 10.0 ** rng.uniform(17.0, 20.0)
        n = best_n(compute) * 10.0 ** rng.uniform(-0.5, 0.5)
        tokens = compute / (6.0 * n)
        lr = 3e-3 * (n / 1e8) ** LR_EXPONENT * 10.0 ** rng.uniform(-0.7, 0.7)
        loss = (E + A * n**-A_EXP + B * tokens**-B_EXP
                + 0.08 * math.log10(lr / (3e-3 * (n / 1e8) ** LR_EXPONENT)) ** 2
                + rng.normal(0.0, 0.005))
        cost = compute if cost_of is None else 10.0 ** rng.uniform(0.0, 3.0)
        engine.observe(ObservationInParam(
            {"n_params": n, "tokens": tokens, "lr": lr, "warmup": rng.uniform(0.0, 1.0)},
            loss, cost))


@pytest.mark.parametrize("seed", [0, 2])  # the frontier line misses N on both
def test_the_model_size_exponent_comes_from_the_joint_law(seed: int) -> None:
    engine = CARBS(fast_config(better_direction_sign=-1), PARAMS)
    observe_study(engine, seed)
    laws = {law.parameter: law for law in engine.scaling_laws()}
    size, tokens, lr = laws["n_params"], laws["tokens"], laws["lr"]
    assert size.fit == tokens.fit == lr.fit == "joint"
    assert size.exponent == pytest.approx(N_EXPONENT, abs=0.02)
    # The drivers split each decade of cost between them: the cost line is 6ND.
    assert (size.exponent or 0.0) + (tokens.exponent or 0.0) == pytest.approx(1.0, abs=0.01)
    assert lr.exponent == pytest.approx(LR_EXPONENT * N_EXPONENT, abs=0.02)
    # The law goes through the compute-optimal N at the frontier's dear end.
    assert math.log10(size.predict(1e20) or 0.0) == pytest.approx(
        math.log10(best_n(1e20)), abs=0.05)


def test_without_a_cost_line_the_frontier_line_stays() -> None:
    """Costs no line in the parameters explains: nothing says which parameters buy compute,
    so each law is the frontier's own line."""
    engine = CARBS(fast_config(better_direction_sign=-1), PARAMS)
    observe_study(engine, 0, cost_of="random")
    assert {law.fit for law in engine.scaling_laws()} == {"frontier"}


def path_after_study(points: int, **config: object) -> tuple[CARBS, torch.Tensor]:
    """An engine after `observe_study` (seed 0) and its path origins, which must be `points`."""
    engine = CARBS(fast_config(better_direction_sign=-1, **config), PARAMS)
    observe_study(engine, 0)
    path = engine._path_origins(engine.pareto_groups(), engine._cost_target())
    assert path is not None
    assert path.shape == (points, len(PARAMS))
    return engine, path


def test_candidates_are_also_drawn_around_the_compute_optimal_path() -> None:
    """cost_path_origins points lie on the law's path: the compute-optimal split and the
    best learning rate at costs from the cheapest success to a growth step past the dearest."""
    engine, path = path_after_study(4, cost_path_origins=4, cost_path_origin_at_target=False)
    points = [engine.basic_to_param(point) for point in path]
    costs = [6.0 * float(p["n_params"]) * float(p["tokens"]) for p in points]
    observed = [o.cost for o in engine.success_observations]
    assert math.log10(costs[0]) == pytest.approx(math.log10(min(observed)), abs=0.05)
    assert math.log10(costs[-1]) == pytest.approx(math.log10(3.0 * max(observed)), abs=0.05)
    for point, cost in zip(points, costs, strict=True):
        n = float(point["n_params"])
        assert math.log10(n / best_n(cost)) == pytest.approx(0.0, abs=0.05)
        best_lr = 3e-3 * (n / 1e8) ** LR_EXPONENT
        assert math.log10(float(point["lr"]) / best_lr) == pytest.approx(0.0, abs=0.1)
    # The law is refitted once the successes grew by a tenth, not on every observation.
    law = engine._path_law
    observe_study(engine, 1, count=5)
    engine._path_origins(engine.pareto_groups(), None)
    assert engine._path_law is law
    observe_study(engine, 2, count=1)
    engine._path_origins(engine.pareto_groups(), None)
    assert engine._path_law is not law


def test_one_path_origin_sits_at_the_suggestions_target_cost() -> None:
    """The extra origin is the path's configuration at the cost this suggestion aims at,
    so the cost window holds candidates around what the law says is optimal there."""
    engine, path = path_after_study(3, cost_path_origins=2, resample_frequency=0)
    cost_target = engine._cost_target()
    assert cost_target is not None
    target = math.exp(cost_target.log_cost)
    point = engine.basic_to_param(path[-1])
    cost = 6.0 * float(point["n_params"]) * float(point["tokens"])
    assert math.log10(cost) == pytest.approx(math.log10(target), abs=0.05)
    assert math.log10(float(point["n_params"]) / best_n(cost)) == pytest.approx(0.0, abs=0.05)
    # The window aims at that same cost.
    assert engine.suggest().log["cost_target"] == pytest.approx(target, rel=1e-6)
    # Without cost targets there is no target to aim at.
    path_after_study(2, cost_path_origins=2, is_cost_targeted=False)


def test_no_path_origin_at_a_target_the_box_cannot_reach() -> None:
    """A target the path could reach only past the box's bounds (here, far below the
    cheapest size and data the box allows) adds no origin: clipped, it would sit at the
    box's corner and draw candidates there again and again."""
    engine = CARBS(fast_config(better_direction_sign=-1, cost_path_origins=2), PARAMS)
    observe_study(engine, 0)
    drawn = engine._cost_target()
    assert drawn is not None
    low, high = drawn.low, drawn.high

    def at(position: float) -> CostTarget:
        return replace(drawn, position=position,
                       log_cost=target_logcost(position, low, high, _MIN_TARGET_STEP))

    path = engine._path_origins(engine.pareto_groups(), at(-0.2))
    assert path is not None
    assert path.shape == (3, len(PARAMS))
    point = engine.basic_to_param(path[-1])
    # A little under the cheapest success is still inside the box: that origin stays.
    assert math.log(6.0 * float(point["n_params"]) * float(point["tokens"])) < low
    path = engine._path_origins(engine.pareto_groups(), at(-10.0))
    assert path is not None
    assert path.shape == (2, len(PARAMS))


def test_no_path_origins_without_a_cost_line() -> None:
    engine = CARBS(fast_config(better_direction_sign=-1, cost_path_origins=4,
                               resample_frequency=0), PARAMS)
    observe_study(engine, 0, cost_of="random")
    assert engine._path_origins(engine.pareto_groups(), engine._cost_target()) is None
    assert engine.suggest().log["suggestion_kind"] == "bayesian"
