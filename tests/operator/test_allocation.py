"""The joint scale-up law over all trials: a Chinchilla-shaped study whose optimum at 10x
is known in closed form, an ignored parameter, a bound in the way, and the fallback."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from carbs_operator.models import CarbsStudy, StudySpec, TrialPhase
from carbs_operator.scaleup.predict import law_curve, predict_scale_up
from carbs_operator.study import TrialRecord
from carbs_operator.validation import parse_study
from carbs_optimizer.laws.allocation import plausible, relevance
from carbs_optimizer.laws.allocation_law import LN10, MAX_EXPONENT, AllocationLaw

E, A, B, ALPHA, BETA = 1.69, 406.4, 410.7, 0.34, 0.28
LARGEST = 1e19
RESAMPLES = 32


def lr_opt(n: float) -> float:
    return float(3e-3 * (n / 1e8) ** -0.3)


def loss(p: dict[str, float]) -> float:
    n, d = p["n_params"], p["tokens"]
    return float(E + A * n**-ALPHA + B * d**-BETA + 0.1 * math.log10(p["lr"] / lr_opt(n)) ** 2
                 + 0.05 * ((p["warmup"] - 0.1) / 0.5) ** 2)


def optimal_n(compute: float) -> float:
    g = (ALPHA * A / (BETA * B)) ** (1.0 / (ALPHA + BETA))
    return float(g * (compute / 6.0) ** (BETA / (ALPHA + BETA)))


def spec_of(n_max: float = 1e10, direction: str = "minimize") -> StudySpec:
    study: CarbsStudy = parse_study({
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy", "metadata": {"name": "lm"},
        "spec": {
            "objective": {"metric": "loss", "direction": direction},
            "cost": {"metric": "flops"},
            "parameters": [
                {"name": "n_params", "space": "log", "min": 1e7, "max": n_max},
                {"name": "tokens", "space": "log", "min": 1e8, "max": 1e12},
                {"name": "lr", "space": "log", "min": 1e-5, "max": 1e-1},
                {"name": "warmup", "space": "linear", "min": 0.0, "max": 0.5},
                {"name": "ignored", "space": "linear", "min": 0.0, "max": 1.0},
            ],
            "budget": {"maxTrials": 60, "maxFailedTrials": 5},
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "t", "image": "x", "command": ["true"]}]}}}},
        },
    })
    return study.spec


def study_trials(count: int = 60, seed: int = 0, n_max: float = 1e10,
                 objective: Any = loss) -> list[TrialRecord]:
    """Trials as a search leaves them: costs over three decades below LARGEST, model size
    scattered ±0.4 decades around the optimum, lr ±0.6 decades around its own, warmup
    anywhere, and a parameter the loss ignores kept between 0.4 and 0.6."""
    rng = np.random.default_rng(seed)
    trials = []
    for index in range(count):
        compute = 10.0 ** rng.uniform(16.0, math.log10(LARGEST))
        n = min(optimal_n(compute) * 10.0 ** rng.uniform(-0.4, 0.4), n_max)
        params = {"n_params": n, "tokens": compute / (6.0 * n),
                  "lr": lr_opt(n) * 10.0 ** rng.uniform(-0.6, 0.6),
                  "warmup": rng.uniform(0.0, 0.5), "ignored": rng.uniform(0.4, 0.6)}
        trials.append(TrialRecord(
            index=index, params=params, phase=TrialPhase.SUCCEEDED,
            objective=objective(params) + rng.normal(0.0, 0.003), cost=compute))
    return trials


def test_recovers_the_compute_optimal_split_and_learning_rate_at_ten_times() -> None:
    compute = 10.0 * LARGEST
    prediction = predict_scale_up(spec_of(), study_trials(), compute, resamples=RESAMPLES)
    assert prediction.allocation is not None
    n, d = float(prediction.params["n_params"]), float(prediction.params["tokens"])
    assert abs(math.log10(n / optimal_n(compute))) < 0.05
    assert 6.0 * n * d == pytest.approx(compute, rel=0.01)  # spends the cost, no more
    assert abs(math.log10(float(prediction.params["lr"]) / lr_opt(n))) < 0.05
    assert abs(float(prediction.params["warmup"]) - 0.1) < 0.05
    low, high = (float(v) for v in prediction.intervals["n_params"])
    assert low <= optimal_n(compute) <= high
    # One draw of a 90% interval may miss; it must not miss by much.
    low, high = (float(v) for v in prediction.intervals["lr"])
    best_lr = lr_opt(optimal_n(compute))
    assert low * 10**-0.05 <= best_lr <= high * 10**0.05


def test_the_objective_is_the_joint_laws_best_loss_and_the_dashboard_curve_agrees() -> None:
    compute = 10.0 * LARGEST
    trials = study_trials()
    prediction = predict_scale_up(spec_of(), trials, compute, resamples=RESAMPLES)
    n = optimal_n(compute)
    best = E + A * n**-ALPHA + B * (compute / (6.0 * n)) ** -BETA
    assert prediction.objective == pytest.approx(best, abs=0.01)
    low, high = prediction.objective_interval
    assert low - 0.005 <= best <= high + 0.005
    at_ten = predict_scale_up(spec_of(), trials, 10.0 * max(float(t.cost or 0.0) for t in trials),
                              resamples=0)
    assert law_curve(at_ten, trials)[("10", "law")] == pytest.approx(at_ten.objective)


def test_a_trial_far_above_the_frontier_weighs_less() -> None:
    costs = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    objectives = np.array([5.0, 4.0, 4.5, 3.0, 9.0, 3.2])  # gaps 0, 0, 0.5, 0, 6, 0.2
    weight = relevance(costs, objectives)
    assert float(np.median(weight)) == pytest.approx(1.0)
    assert weight[0] == weight[1] == weight[3] == max(weight)  # on the frontier
    assert weight[4] < weight[2] < weight[5] < weight[0]
    assert relevance(costs, -costs).tolist() == [1.0] * 6  # every trial on the frontier


def test_a_parameter_the_objective_ignores_stays_where_the_trials_had_it() -> None:
    prediction = predict_scale_up(spec_of(), study_trials(seed=1), 100.0 * LARGEST,
                                  resamples=RESAMPLES)
    assert 0.4 <= float(prediction.params["ignored"]) <= 0.6


def test_an_optimum_past_a_bound_spends_the_rest_on_the_other_driver() -> None:
    n_max = 3e8  # the optimum at 10x is ~6.5e8
    compute = 10.0 * LARGEST
    prediction = predict_scale_up(spec_of(n_max), study_trials(n_max=n_max), compute,
                                  resamples=RESAMPLES)
    assert prediction.params["n_params"] == pytest.approx(n_max)
    assert float(prediction.params["tokens"]) == pytest.approx(compute / (6.0 * n_max),
                                                                rel=0.01)
    assert prediction.beyond["n_params"] > n_max


def test_a_maximized_objective_gets_the_same_configuration() -> None:
    compute = 10.0 * LARGEST
    accuracy = study_trials(objective=lambda p: 10.0 - loss(p))
    maximized = predict_scale_up(spec_of(direction="maximize"), accuracy, compute,
                                 resamples=RESAMPLES)
    minimized = predict_scale_up(spec_of(), study_trials(), compute, resamples=RESAMPLES)
    assert float(maximized.params["n_params"]) == pytest.approx(
        float(minimized.params["n_params"]), rel=0.05)


def test_too_few_trials_for_the_joint_law_fall_back_to_the_frontier_laws() -> None:
    prediction = predict_scale_up(spec_of(), study_trials(count=12), 10.0 * LARGEST,
                                  resamples=RESAMPLES)
    assert prediction.allocation is None
    assert prediction.parameter_laws  # the per-parameter laws made the prediction


def test_allocate_equalizes_marginal_gain_per_unit_of_cost() -> None:
    law = AllocationLaw(
        floor=1.0, log_amplitudes=np.array([0.0, 0.5]), exponents=np.array([0.3, 0.2]),
        driver_mean=np.zeros(2), centers=np.zeros(0), slopes=np.zeros((2, 0)),
        log_curvatures=np.zeros(0), driver_ref=np.zeros(2), noise=1.0, relevance=np.ones(1))
    weights = np.array([1.0, 2.0])
    x = law.allocate(weights, 5.0, np.full(2, -np.inf), np.full(2, np.inf))
    assert float(weights @ x) == pytest.approx(5.0)
    marginal = (law.exponents * LN10 * np.exp(law.log_amplitudes - law.exponents * LN10 * x)
                / weights)
    assert marginal[0] == pytest.approx(marginal[1], rel=1e-6)
    clamped = law.allocate(weights, 5.0, np.full(2, -np.inf), np.array([0.5, np.inf]))
    assert clamped[0] == pytest.approx(0.5)
    assert float(weights @ clamped) == pytest.approx(5.0)
    assert law.gain(clamped) > law.gain(x)


def test_a_law_the_data_did_not_pin_is_set_aside() -> None:
    """An exponent at its bound, or a floor far below every trial (the digits study once
    gave -27 for a cross-entropy in [0.1, 2.3] and predicted a negative loss)."""
    def law(floor: float, exponents: list[float]) -> AllocationLaw:
        return AllocationLaw(
            floor=floor, log_amplitudes=np.zeros(2), exponents=np.array(exponents),
            driver_mean=np.zeros(2), centers=np.zeros(0), slopes=np.zeros((2, 0)),
            log_curvatures=np.zeros(0), driver_ref=np.zeros(2), noise=1.0,
            relevance=np.ones(1))

    objectives = np.linspace(0.1, 2.3, 30)
    assert plausible(law(0.05, [0.3, 0.5]), objectives)
    assert plausible(law(-3.5, [0.3, 0.5]), objectives)  # within twice the spread
    assert not plausible(law(-27.0, [0.3, 0.5]), objectives)
    assert not plausible(law(0.05, [0.3, MAX_EXPONENT]), objectives)
