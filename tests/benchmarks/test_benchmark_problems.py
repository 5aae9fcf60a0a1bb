"""Smoke tests of the benchmark problems and metrics (a few seconds in total).

They check what the benchmark tables rest on: the simulator's closed-form optimum really is
optimal, the space translations agree, the regret arithmetic is right, and the shipped
digits example trains and returns finite numbers.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not add the root
    sys.path.insert(0, str(ROOT))

from benchmarks.common import ParamSpec  # noqa: E402
from benchmarks.problems import ChinchillaProblem, load_digits_train_module  # noqa: E402
from benchmarks.quality import (  # noqa: E402
    RunRecord,
    TrialRecord,
    compute_levels,
    direct_n_slope,
    envelope,
    pareto_regret,
    run_method,
)


@pytest.mark.parametrize("compute", [1e16, 1e17, 3e18, 1e20, 1e21, 5e22])
def test_chinchilla_closed_form_beats_a_grid(compute: float) -> None:
    problem = ChinchillaProblem()
    best = problem.best_loss(compute)
    n_opt, d_opt = problem.optimal_split(compute)
    assert 6 * n_opt * d_opt == pytest.approx(compute, rel=1e-9)
    # Every feasible split of the same compute, on a fine grid in log N, is no better.
    c6 = compute / 6
    n_low = max(problem.n_min, c6 / problem.d_max)
    n_high = min(problem.n_max, c6 / problem.d_min)
    grid = np.geomspace(n_low, n_high, 4001)
    losses = [problem.scale_loss(n, c6 / n) for n in grid]
    assert min(losses) >= best - 1e-12
    assert min(losses) == pytest.approx(best, abs=1e-5)


def test_chinchilla_clamps_to_the_box() -> None:
    problem = ChinchillaProblem()
    # Below ~1e16 FLOPs the unclamped optimum wants N < 1e7: it must sit on the bound.
    n_opt, _ = problem.optimal_split(6.5e15)
    assert n_opt == pytest.approx(problem.n_min)
    assert problem.best_loss(1e15) == math.inf  # cheaper than any trial in the box
    assert problem.n_opt_exponent == pytest.approx(0.28 / 0.62)


def test_chinchilla_nuisances_have_their_optimum_inside() -> None:
    problem = ChinchillaProblem()
    n, d = 3e8, 6e9
    optimal = {"n_params": n, "tokens": d, "lr": problem.lr_opt(n), "warmup": 0.1, "beta2": 0.98}
    assert problem.true_loss(optimal) == pytest.approx(problem.scale_loss(n, d))
    for key, value in (("lr", problem.lr_opt(n) * 3), ("warmup", 0.3), ("beta2", 0.9)):
        assert problem.true_loss({**optimal, key: value}) > problem.true_loss(optimal)
    # The analytic optimum is reachable inside the search box.
    for spec in problem.specs:
        assert spec.min <= optimal[spec.name] <= spec.max


def test_param_spec_round_trip_and_rounding() -> None:
    log = ParamSpec("lr", "log", 1e-5, 1.0, 1e-3)
    logit = ParamSpec("b", "logit", 0.5, 0.9999, 0.95)
    width = ParamSpec("w", "log", 8, 1024, 64, is_integer=True, rounding_factor=8)
    assert log.from_basic(log.to_basic(3e-4)) == pytest.approx(3e-4)
    assert logit.from_basic(logit.to_basic(0.98)) == pytest.approx(0.98)
    rng = np.random.default_rng(0)
    widths = [width.sample_uniform(rng) for _ in range(200)]
    assert all(w % 8 == 0 and 8 <= w <= 1024 for w in widths)
    assert width.clip_round(1030.0) == 1024.0


def _trial(cost: float, loss: float, n: float = 1e8) -> TrialRecord:
    return TrialRecord(0, {"n_params": n}, loss, loss, cost, False, 0.0)


def test_regret_and_envelope() -> None:
    trials = [_trial(10.0, 3.0), _trial(100.0, 2.0), _trial(1000.0, 2.5)]
    best = envelope([_run(trials)])
    assert best(5.0) == math.inf
    assert best(150.0) == 2.0
    regret, per_level, empty = pareto_regret(trials, [1.0, 10.0, 100.0], lambda c: 1.0, 4.0)
    assert per_level == [3.0, 2.0, 1.0]  # level 1.0 has nothing: charged the uninformed 4.0
    assert empty == 1
    assert regret == pytest.approx(2.0)
    levels = compute_levels(1e4, 1.0, 1e9)
    assert levels[-1] == pytest.approx(1e3)
    assert levels[0] == pytest.approx(1.0)


def test_direct_slope_recovers_a_power_law() -> None:
    costs = np.geomspace(1e17, 1e21, 12)
    trials = [_trial(c, 10.0 - i, n=1e3 * c**0.45) for i, c in enumerate(costs)]
    assert direct_n_slope(trials) == pytest.approx(0.45)


def _run(trials: list[TrialRecord]) -> RunRecord:
    run = RunRecord(problem="p", method="m", seed=0, budget=1.0)
    run.trials = trials
    return run


@pytest.mark.parametrize("method", ["random", "tpe"])
def test_budgeted_loop_stops_once_the_budget_is_spent(method: str) -> None:
    problem = ChinchillaProblem()
    budget = 1e20
    run = run_method(problem, method, seed=0, budget=budget)
    assert run.error is None
    spent = np.cumsum([t.cost for t in run.trials])
    assert spent[-1] > budget  # ran until the sum exceeded the budget ...
    assert len(spent) == 1 or spent[-2] <= budget  # ... and not one trial longer


def test_digits_train_tiny_config_is_finite() -> None:
    module = load_digits_train_module()
    result = module.train(lr=1e-2, width=8, epochs=3, weight_decay=0.0, seed=0)
    for key in ("val_loss", "val_accuracy", "flops", "train_seconds"):
        assert math.isfinite(result[key])
    assert 0.0 <= result["val_accuracy"] <= 1.0
    assert result["flops"] == module.training_flops(8, 3)
    # Same seed, same result: initialisation comes from a private generator.
    again = module.train(lr=1e-2, width=8, epochs=3, weight_decay=0.0, seed=0)
    assert again["val_loss"] == result["val_loss"]
