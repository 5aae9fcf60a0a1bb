"""Smoke tests of the early-stopping benchmark (seconds): its learning-curve problems stream
what the suite's problems would have returned, and one tiny study runs end to end with the
runtimes' rule, peers and engine feedback."""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not add the root
    sys.path.insert(0, str(ROOT))

from benchmarks import early_stopping as bench  # noqa: E402
from benchmarks.curve_problems import (  # noqa: E402
    POINTS_PER_TRIAL,
    ChinchillaCurve,
    DigitsCurve,
    problem_by_name,
)
from benchmarks.problems import load_digits_train_module  # noqa: E402

CENTER = {"n_params": 5e8, "tokens": 1e10, "lr": 1e-3, "warmup": 0.25, "beta2": 0.95}


def test_the_constant_lr_curve_passes_through_shorter_runs_and_ends_at_the_law() -> None:
    problem = ChinchillaCurve()
    points = list(problem.run(CENTER, trial_seed=3))
    assert len(points) == POINTS_PER_TRIAL
    assert [p.last for p in points] == [False] * (POINTS_PER_TRIAL - 1) + [True]
    assert points[-1].true_loss == pytest.approx(problem.base.true_loss(CENTER))
    assert points[-1].cost == pytest.approx(problem.base.cost(CENTER))
    half = points[POINTS_PER_TRIAL // 2 - 1]
    shorter = {**CENTER, "tokens": CENTER["tokens"] / 2}
    assert half.true_loss == pytest.approx(problem.base.true_loss(shorter))
    assert [p.step for p in points] == sorted(p.step for p in points)
    noise = [p.loss - p.true_loss for p in points]
    assert 0 < max(abs(n) for n in noise) < 6 * problem.noise_sd


def test_the_cosine_curve_falls_late_to_the_same_final_loss() -> None:
    flat = list(ChinchillaCurve().run(CENTER, trial_seed=3))
    cosine = list(problem_by_name("chinchilla-cosine").run(CENTER, trial_seed=3))
    excess = [c.true_loss - f.true_loss for c, f in zip(cosine, flat, strict=True)]
    assert excess[-1] == pytest.approx(0.0, abs=1e-12)
    assert excess[POINTS_PER_TRIAL // 2] > 0.15  # half way it is still far above
    assert all(a >= b for a, b in itertools.pairwise(excess))


def test_the_digits_curve_ends_where_train_py_ends() -> None:
    params = {"lr": 3e-3, "width": 16, "epochs": 10, "weight_decay": 1e-4}
    points = list(DigitsCurve().run(params, trial_seed=5))
    assert [p.step for p in points] == list(range(1, 11))
    module = load_digits_train_module()
    result = module.train(lr=3e-3, width=16, epochs=10, weight_decay=1e-4, seed=5)
    assert points[-1].loss == pytest.approx(result["val_loss"], rel=1e-5)
    assert points[-1].cost == pytest.approx(result["flops"])
    assert points[-1].last
    assert not any(p.last for p in points[:-1])


def test_a_tiny_study_stops_trials_and_charges_only_what_they_used() -> None:
    problem = ChinchillaCurve()
    # 16 trials: since issue 23 the margin is at least the curves' noise, and the first 12
    # trials of this seed are all within it of the study.
    run = bench.run_study(problem, "frontier/censored", seed=0, n_trials=16)
    assert len(run.trials) == 16
    stopped = [t for t in run.trials if t.phase == "EarlyStopped"]
    assert stopped, "the defaults stop some of 16 trials on this problem"
    for trial in stopped:
        assert trial.reason is not None
        assert trial.reason.startswith("Frontier:")
        assert trial.unstopped_cost is not None
        assert trial.spent < trial.unstopped_cost
        assert trial.spent == trial.curve[-1][2]
        assert math.isnan(trial.loss)
    assert run.spent == pytest.approx(sum(t.spent for t in run.trials))
    baseline = bench.run_study(problem, "none", seed=0, n_trials=16)
    assert all(t.phase == "Succeeded" for t in baseline.trials)
    summary = bench.summarise(problem, [baseline, run])
    frontier = summary["configs"]["frontier/censored"]
    assert frontier["compute_saved"] < 1
    assert frontier["median_stopped"] == len(stopped)
    assert math.isfinite(frontier["regret_ratio"])
    assert "frontier/censored" in bench.render([summary])


def test_a_variant_config_changes_one_knob_and_only_for_its_run() -> None:
    from carbs_operator import early_stopping as rules
    from carbs_operator.replay import StoppedFeedback

    settings, feedback, constants = bench.settings_for("frontier/failure@margin=0.05")
    assert settings is not None
    assert (settings.margin, feedback, constants) == (0.05, StoppedFeedback.FAILURE, {})
    settings, _, constants = bench.settings_for("frontier/bound@slack=0")
    assert settings is not None
    assert settings.margin == 0.1
    assert constants == {"PREDICTION_SLACK": 0.0}
    before = rules.PREDICTION_SLACK
    run = bench.run_study(ChinchillaCurve(), "frontier/failure@slack=0", seed=0, n_trials=2)
    assert len(run.trials) == 2
    after = rules.PREDICTION_SLACK
    assert after == before
    assert bench.settings_for("none")[0] is None


def test_the_twins_end_every_trial_alike_so_their_unstopped_study_is_shared() -> None:
    params = [CENTER, {**CENTER, "n_params": 3e7, "tokens": 2e8, "lr": 2e-2},
              {**CENTER, "n_params": 4e9, "tokens": 3e11, "lr": 1e-4}]
    for p in params:
        ends = {name: list(problem_by_name(name).run(p, trial_seed=11))[-1]
                for name in bench.UNSTOPPED_TWINS}
        assert len({(e.loss, e.true_loss, e.cost, e.step) for e in ends.values()}) == 1


def test_the_new_families_fall_as_they_say() -> None:
    power = list(problem_by_name("powerlaw-floor").run(CENTER, trial_seed=3))
    true = [p.true_loss for p in power]
    assert all(a > b for a, b in itertools.pairwise(true))
    # 1/step: the excess over the floor halves roughly as the step doubles, late in the run.
    floor = true[-1] - (true[-2] - true[-1]) * 19  # the t0/(t0+t) tail, t0 << steps
    assert (true[9] - floor) / (true[19] - floor) == pytest.approx(2.0, rel=0.15)
    slow = list(problem_by_name("powerlaw-floor").run({**CENTER, "lr": 1e-4}, trial_seed=3))
    assert slow[4].true_loss - slow[-1].true_loss > power[4].true_loss - power[-1].true_loss
    noisy = problem_by_name("chinchilla-noisy")
    assert isinstance(noisy, ChinchillaCurve)
    assert noisy.noise_sd == pytest.approx(4 * ChinchillaCurve().noise_sd)
    steps = [p.true_loss for p in problem_by_name("step-decay").run(CENTER, trial_seed=3)]
    flat = [p.true_loss for p in ChinchillaCurve().run(CENTER, trial_seed=3)]
    excess = [s - f for s, f in zip(steps, flat, strict=True)]
    assert excess[0] == pytest.approx(0.25)
    assert excess[12] == pytest.approx(0.25 / 3)
    assert excess[-1] == 0.0


def _sim(index: int, cost: float, loss: float, phase: str = "Succeeded") -> bench.SimTrial:
    done = phase == "Succeeded"
    return bench.SimTrial(index, {}, [], loss if done else math.nan, loss if done else math.nan,
                          cost, cost if done else None, None, phase)


def test_a_capped_study_ends_once_its_spend_reaches_the_budget() -> None:
    """maxTotalCost as the runtimes apply it: no trial starts once the spend reaches it."""
    problem = ChinchillaCurve()
    budget = 3e18
    run = bench.run_study(problem, "none", seed=0, n_trials=0, budget=budget)
    assert run.budget == budget
    assert run.spent >= budget
    assert run.spent - run.trials[-1].spent < budget
    assert bench.run_path("chinchilla-curve", "none", 0, capped=True).parent.parent == (
        bench.CAPPED_RUNS_DIR)


def test_the_capped_measures_read_regret_against_compute_paired_per_seed() -> None:
    """Regret at equal compute, and the compute each study needed to reach the worse of the
    two final regrets; a study identical to the unstopped one scores 1.0 and 0%."""
    problem = ChinchillaCurve()
    cheap, mid, dear = 2e18, 3e19, 5e20
    unstopped = bench.StudyRun("chinchilla-curve", "none", 0, budget=1e21, trials=[
        _sim(0, cheap, problem.best_loss(cheap) + 0.3),
        _sim(1, mid, problem.best_loss(cheap) + 1),
        _sim(2, dear, problem.best_loss(dear) + 0.1),
        _sim(3, dear, problem.best_loss(dear) + 0.05)])
    # The same study, but its useless second trial stopped at a tenth of its cost, and the dear
    # end's best found one trial earlier.
    stopping = bench.StudyRun("chinchilla-curve", "frontier/censored", 0, budget=1e21, trials=[
        unstopped.trials[0], _sim(1, mid / 10, 0.0, "EarlyStopped"),
        _sim(2, dear, problem.best_loss(dear) + 0.05), unstopped.trials[2]])
    same = bench.StudyRun("chinchilla-curve", "median/censored", 0, budget=1e21,
                          trials=list(unstopped.trials))
    summary = bench.summarise_capped(problem, [unstopped, stopping, same])
    identical = summary["configs"]["median/censored"]["runs"][0]
    assert identical["regret_ratio"] == pytest.approx(1.0)
    assert identical["saved_at_equal_regret"] == pytest.approx(0.0)
    assert identical["reached_unstopped_regret"]
    mine = summary["configs"]["frontier/censored"]["runs"][0]
    assert mine["saved_at_equal_regret"] > 0  # reached the final regret with less compute
    points = bench.trajectory(bench.regret_view(stopping), summary["levels"],
                              problem.best_loss, problem.uninformed_loss)
    assert [c for c, _ in points] == pytest.approx(
        [0.0, cheap, cheap + mid / 10, cheap + mid / 10 + dear, cheap + mid / 10 + 2 * dear])
    assert all(a >= b for (_, a), (_, b) in itertools.pairwise(points))
    assert bench.compute_to_reach(points, -1.0) is None
    assert math.isnan(summary["configs"]["none"]["seed_to_seed"]["regret_factor"])  # 1 seed
    assert "not reached" in bench._percent(-math.inf)
    assert "frontier/censored" in bench.render_capped([summary])
