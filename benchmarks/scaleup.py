"""Tune as you scale: predict the best configuration at 10x and 100x the largest cost tried.

For each Chinchilla constant set and seed: run a study with our engine that never spends
more than C0 on one trial, then ask `carbs_operator.scaleup.predict.predict_scale_up` (the code
behind `carbs predict` and `status.scaleUp`) for the configuration and loss at 10x and
100x C0. Compare with the analytic optimum at that compute (log10 error of model size,
tokens and learning rate; whether the interval holds it) and with the naive baseline:
the best trial's configuration with model size and tokens each scaled by sqrt(k), so the
baseline spends exactly k times the best trial's cost (kept inside the search box, as the
optimum is: past model size's bound, the rest goes to tokens).

Regret is the configuration's noise-free loss minus the best loss achievable at the target
compute C. A configuration that spends more than C could buy a negative regret that way,
so each row also reports its cost / C and its regret against the best loss at its *own*
cost (the distance from the true frontier, which no overspending can cheat).

Run from the repository root (about 35 minutes on 2 loaded cores)::

    nice -n 10 .venv/bin/python -m benchmarks.scaleup
    .venv/bin/python -m benchmarks.scaleup --seeds 1 --trials 20   # smoke run
    .venv/bin/python -m benchmarks.scaleup --render                # tables + plot again
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from benchmarks.common import (
    RESULTS_DIR,
    ParamSpec,
    machine_description,
    markdown_table,
    median,
    package_versions,
    write_json,
)
from benchmarks.problems import ChinchillaProblem

RESULTS = RESULTS_DIR / "scaleup.json"
PLOT = RESULTS_DIR.parent.parent / "docs" / "scaleup.png"
#: The largest cost a trial of the cheap study may spend (FLOPs); 100 x C0 stays in the box.
C0 = 1e19
FACTORS = (10.0, 100.0)
PREDICTED = ("n_params", "tokens", "lr")

#: Three constant sets. Hoffmann et al. 2022 (approach 3); Besiroglu et al. 2024's
#: replication of it (a data-hungrier optimum); and a synthetic set with the exponents
#: swapped and a learning rate that moves faster with size, so the optimum's split and
#: the lr law differ from the first two.
CONSTANT_SETS: dict[str, ChinchillaProblem] = {
    "hoffmann": ChinchillaProblem(name="hoffmann"),
    "besiroglu": ChinchillaProblem(
        name="besiroglu", E=1.8172, A=482.01, B=2085.43, alpha=0.3478, beta=0.3658),
    "swapped": ChinchillaProblem(
        name="swapped", A=410.7, B=406.4, alpha=0.28, beta=0.34, lr_exp=-0.5),
}


def study_manifest(problem: ChinchillaProblem, specs: Sequence[ParamSpec], trials: int,
                   seed: int) -> dict[str, Any]:
    """The study as a user would write it: cheap search center, cost capped at C0."""
    return {
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy",
        "metadata": {"name": f"scaleup-{problem.name}"},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "cost": {"metric": "flops"},
            "parameters": [
                {"name": s.name, "space": s.kind, "min": s.min, "max": s.max,
                 "searchCenter": s.center} for s in specs],
            "budget": {"maxTrials": trials, "maxFailedTrials": trials},
            "maxSuggestionCost": C0,
            "carbs": {"seed": seed},
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "train", "image": "sim", "command": ["true"]}]}}}},
        },
    }


def capped(params: dict[str, float], problem: ChinchillaProblem) -> dict[str, float]:
    """The configuration actually run: one the surrogate misjudged past C0 trains on fewer
    tokens (and, if even the fewest are too many, a smaller model) so it spends C0."""
    out = dict(params)
    if problem.cost(out) <= C0:
        return out
    out["tokens"] = max(problem.d_min, C0 / (6.0 * out["n_params"]))
    if problem.cost(out) > C0:
        out["n_params"] = C0 / (6.0 * out["tokens"])
    return out


def cheap_specs(problem: ChinchillaProblem) -> list[ParamSpec]:
    """The search space with its center at the cheap end, as the README advises."""
    return [replace(s, center=problem.cheap_center.get(s.name, s.center)) for s in problem.specs]


def run_study(problem: ChinchillaProblem, seed: int, trials: int) -> tuple[Any, list[Any]]:
    """Run the capped study with the engine the runtimes use; (spec, trial records)."""
    from carbs_operator.models import CarbsStudy, TrialPhase
    from carbs_operator.replay import carbs_params, engine_params
    from carbs_operator.study import TrialRecord
    from carbs_optimizer import CARBS, ObservationInParam

    specs = cheap_specs(problem)
    study = CarbsStudy.model_validate(study_manifest(problem, specs, trials, seed))
    config = carbs_params(study.spec, device="cpu")
    engine = CARBS(config, engine_params(study.spec))
    records = []
    for index in range(trials):
        suggestion = dict(engine.suggest().suggestion)
        params = capped({s.name: float(suggestion[s.name]) for s in specs}, problem)
        evaluation = problem.evaluate(params, 1_000_003 * (seed + 1) + index)
        engine.observe(ObservationInParam({**suggestion, **params}, evaluation.loss,
                                          evaluation.cost))
        records.append(TrialRecord(index=index, params=params, phase=TrialPhase.SUCCEEDED,
                                   objective=evaluation.loss, cost=evaluation.cost))
    return study.spec, records


def optimum(problem: ChinchillaProblem, compute: float) -> dict[str, float]:
    """The analytic best configuration at `compute`."""
    n_opt, d_opt = problem.optimal_split(compute)
    return {"n_params": n_opt, "tokens": d_opt, "lr": problem.lr_opt(n_opt),
            "warmup": problem.warmup_opt, "beta2": problem.beta2_opt}


def naive(problem: ChinchillaProblem, best: Any, compute: float) -> dict[str, float]:
    """The best trial's configuration, model size and tokens each scaled by sqrt(k), inside
    the box the study searched: where the step takes model size past its bound, the size
    stops there and the rest of the compute goes to tokens (and tokens stop at theirs).

    The optimum it is scored against is the best inside that box (`optimal_split` clamps),
    and so is our prediction; a baseline stepping out of the box could beat the box's
    optimum and score a negative regret (it did on the swapped set, whose optimal size sits
    on the bound).
    """
    factor = math.sqrt(compute / float(best.cost))
    params = {k: float(v) for k, v in best.params.items()}
    product = params["n_params"] * params["tokens"] * factor**2
    params["n_params"] = min(max(params["n_params"] * factor, problem.n_min), problem.n_max)
    params["tokens"] = min(max(product / params["n_params"], problem.d_min), problem.d_max)
    return params


def score(problem: ChinchillaProblem, params: dict[str, float], compute: float) -> dict[str, Any]:
    """Regret at the target compute, cost ratio, Pareto regret at its own cost, log10 errors."""
    target = optimum(problem, compute)
    loss = problem.true_loss(params)
    own = problem.cost(params)
    return {
        "params": params,
        "true_loss": loss,
        "regret": loss - problem.best_loss(compute),
        "cost_ratio": own / compute,
        "own_cost_regret": loss - problem.best_loss(own),
        "log10_error": {k: math.log10(params[k] / target[k]) for k in PREDICTED},
    }


def evaluate_run(problem: ChinchillaProblem, seed: int, trials: int) -> dict[str, Any]:
    """One study, its predictions at each factor, and the baseline's."""
    start = time.perf_counter()
    _, records = run_study(problem, seed, trials)
    row: dict[str, Any] = {
        "problem": problem.name, "seed": seed, "trials": trials,
        "study_seconds": time.perf_counter() - start,
        "log": [{"params": dict(t.params), "loss": t.objective, "cost": t.cost}
                for t in records],
    }
    return predict_row(problem, row)


def stored_study(problem: ChinchillaProblem, row: dict[str, Any]) -> tuple[Any, list[Any]]:
    """The (spec, trial records) of a run, rebuilt from its JSON log."""
    from carbs_operator.models import CarbsStudy, TrialPhase
    from carbs_operator.study import TrialRecord

    specs = cheap_specs(problem)
    study = CarbsStudy.model_validate(study_manifest(problem, specs, row["trials"], row["seed"]))
    records = [TrialRecord(index=i, params=t["params"], phase=TrialPhase.SUCCEEDED,
                           objective=t["loss"], cost=t["cost"]) for i, t in enumerate(row["log"])]
    return study.spec, records


def inside(value: float, low: float, high: float) -> bool:
    """`value` within [low, high], up to float rounding: where every resample puts model size
    on its bound, the tokens' interval is one point, C / (6 · N_max), computed two ways."""
    slack = 1e-9 * max(abs(low), abs(high))
    return low - slack <= value <= high + slack


def predict_row(problem: ChinchillaProblem, row: dict[str, Any]) -> dict[str, Any]:
    """Predictions and baseline at each factor from a run's stored trials."""
    from carbs_operator.scaleup.predict import PredictionRefusedError, predict_scale_up
    from carbs_operator.study import best_trial

    spec, records = stored_study(problem, row)
    best = best_trial(spec, records)
    row = {**row, "factors": {},
           "largest_cost": max(float(t.cost or 0.0) for t in records),
           "best": {"cost": best.cost, "objective": best.objective, "params": dict(best.params)}
           if best else None}
    for factor in FACTORS:
        compute = factor * C0
        target = optimum(problem, compute)
        entry: dict[str, Any] = {"cost": compute, "optimum": target,
                                 "best_loss": problem.best_loss(compute)}
        if best is not None:
            entry["naive"] = score(problem, naive(problem, best, compute), compute)
        try:
            started = time.perf_counter()
            prediction = predict_scale_up(spec, records, compute)
            entry["predict_seconds"] = time.perf_counter() - started
        except PredictionRefusedError as refusal:
            entry["refused"] = str(refusal)
            row["factors"][str(int(factor))] = entry
            continue
        params = {k: float(v) for k, v in prediction.params.items()
                  if isinstance(v, int | float)}
        entry["predicted"] = score(problem, params, compute)
        entry["predicted"]["objective"] = prediction.objective
        entry["predicted"]["objective_interval"] = list(prediction.objective_interval)
        entry["predicted"]["intervals"] = {k: list(v) for k, v in prediction.intervals.items()}
        entry["predicted"]["inside"] = {
            k: inside(target[k], float(lo), float(hi))
            for k, (lo, hi) in prediction.intervals.items() if k in PREDICTED}
        entry["predicted"]["law"] = {
            "floor": prediction.law.floor, "amplitude": prediction.law.amplitude,
            "exponent": prediction.law.exponent, "reference_cost": prediction.law.reference_cost}
        entry["predicted"]["frontier_points"] = prediction.frontier_points
        if prediction.allocation is not None:
            fitted = prediction.allocation.law
            entry["predicted"]["allocation"] = {
                "drivers": [prediction.allocation.params[j].name
                            for j in prediction.allocation.drivers],
                "exponents": [float(v) for v in fitted.exponents],
                "floor": fitted.floor, "noise": fitted.noise}
        row["factors"][str(int(factor))] = entry
    return row


# --------------------------------------------------------------------------------------------
# Summary, tables, plot
# --------------------------------------------------------------------------------------------


def summarise(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (constant set, factor): medians over seeds and the targets' verdicts."""
    out = []
    for name in CONSTANT_SETS:
        for factor in FACTORS:
            key = str(int(factor))
            entries = [r["factors"][key] for r in rows if r["problem"] == name]
            made = [e for e in entries if "predicted" in e]
            predicted = [e["predicted"] for e in made]
            baseline = [e["naive"] for e in made]
            n_errors = [abs(p["log10_error"]["n_params"]) for p in predicted]
            summary: dict[str, Any] = {
                "problem": name, "factor": factor, "seeds": len(entries),
                "refused": len(entries) - len(made),
                "regret_predicted": median([p["regret"] for p in predicted]),
                "regret_naive": median([b["regret"] for b in baseline]),
                "own_cost_regret_predicted": median([p["own_cost_regret"] for p in predicted]),
                "own_cost_regret_naive": median([b["own_cost_regret"] for b in baseline]),
                "cost_ratio_predicted": median([p["cost_ratio"] for p in predicted]),
                "abs_log10_error": {k: median([abs(p["log10_error"][k]) for p in predicted])
                                    for k in PREDICTED},
                "abs_log10_error_naive": {
                    k: median([abs(b["log10_error"][k]) for b in baseline]) for k in PREDICTED},
                "coverage": {k: (sum(p["inside"][k] for p in predicted) / len(predicted)
                                 if predicted else math.nan) for k in PREDICTED},
                "objective_coverage": (sum(
                    e["predicted"]["objective_interval"][0] <= e["best_loss"]
                    <= e["predicted"]["objective_interval"][1] for e in made) / len(made)
                    if made else math.nan),
                "median_n_error": median(n_errors),
            }
            summary["targets"] = {
                "regret_at_most_half_naive":
                    summary["regret_predicted"] <= 0.5 * summary["regret_naive"],
                "n_params_within_0.15_decades": summary["median_n_error"] <= 0.15,
                "n_params_inside_interval_80pct": summary["coverage"]["n_params"] >= 0.8,
            }
            out.append(summary)
    return out


def render_tables(summaries: Sequence[dict[str, Any]]) -> str:
    """The README's tables."""
    rows = []
    for s in summaries:
        err, naive_err = s["abs_log10_error"], s["abs_log10_error_naive"]
        rows.append([
            s["problem"], f"{s['factor']:.0f}×",
            f"{s['regret_predicted']:.4f}", f"{s['regret_naive']:.4f}",
            f"{s['own_cost_regret_predicted']:.4f} / {s['own_cost_regret_naive']:.4f}",
            f"{s['cost_ratio_predicted']:.2f}",
            " / ".join(f"{err[k]:.2f}" for k in PREDICTED),
            " / ".join(f"{naive_err[k]:.2f}" for k in PREDICTED),
            " / ".join(f"{s['coverage'][k]:.0%}" for k in PREDICTED),
            f"{s['objective_coverage']:.0%}",
        ])
    return markdown_table(
        ["constants", "at", "regret, predicted", "regret, naive",
         "own-cost regret (pred / naive)", "cost / C (pred)",
         "|log10 err| N / D / lr (pred)", "|log10 err| N / D / lr (naive)",
         "optimum in interval N / D / lr", "best loss in interval"], rows)


def plot(rows: Sequence[dict[str, Any]]) -> None:
    """Per constant set, seed 0: frontier, the predicted best loss to 100x (and the
    frontier's own objective law), predictions with intervals, the analytic best loss; and
    model size against compute the same way."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from carbs_operator.frontier import pareto_frontier
    from carbs_operator.scaleup.predict import predict_scale_up

    figure = Figure(figsize=(15.0, 8.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, len(CONSTANT_SETS))
    for column, (name, problem) in enumerate(CONSTANT_SETS.items()):
        row = next(r for r in rows if r["problem"] == name and r["seed"] == 0)
        spec, records = stored_study(problem, row)
        loss_axes, size_axes = axes[0][column], axes[1][column]
        costs = [float(t.cost or 0.0) for t in records]
        grid = [10 ** (15.8 + i * 0.05) for i in range(110)]
        grid = [c for c in grid if c <= 1.2 * max(FACTORS) * C0]
        loss_axes.scatter(costs, [float(t.objective or 0.0) for t in records], s=10,
                          color="tab:blue", alpha=0.4, label="trials (cost ≤ C0)")
        frontier = pareto_frontier(spec, records, limit=len(records))
        front_costs = [float(t.cost or 0.0) for t in frontier]
        loss_axes.scatter(front_costs, [float(t.objective or 0.0) for t in frontier], s=22,
                          facecolors="none", edgecolors="tab:red", label="Pareto frontier")
        size_axes.scatter(front_costs, [float(t.params["n_params"]) for t in frontier], s=22,
                          facecolors="none", edgecolors="tab:red", label="frontier")
        loss_axes.plot(grid, [problem.best_loss(c) for c in grid], color="black",
                       linewidth=1.0, label="analytic best loss")
        size_axes.plot(grid, [problem.optimal_split(c)[0] for c in grid], color="black",
                       linewidth=1.0, label="analytic optimal N")
        size_axes.scatter(costs, [float(t.params["n_params"]) for t in records], s=10,
                          color="tab:blue", alpha=0.4, label="trials")
        for factor in FACTORS:
            prediction = predict_scale_up(spec, records, factor * C0)
            law = prediction.law
            if factor == FACTORS[-1]:
                line = [c for c in grid if c >= min(front_costs)]
                loss_axes.plot(line, [prediction.objective_at(c) for c in line],
                               color="tab:red", linewidth=1.4, label="predicted best loss")
                loss_axes.plot(grid, [law(c) for c in grid], color="tab:red", linewidth=0.8,
                               linestyle="--", label="frontier's L(C) = E + A·C^−α")
            lo, hi = prediction.objective_interval
            loss_axes.errorbar([factor * C0], [prediction.objective],
                               yerr=[[prediction.objective - lo], [hi - prediction.objective]],
                               fmt="o", color="tab:red", capsize=4)
            if factor == FACTORS[-1]:
                line = [c for c in grid if c >= min(front_costs)]
                size_axes.plot(line, [size_path(prediction, c) for c in line],
                               color="tab:red", linewidth=1.2, label="predicted N(C)")
            n_lo, n_hi = (float(v) for v in prediction.intervals["n_params"])
            n_value = float(prediction.params["n_params"])
            size_axes.errorbar([factor * C0], [n_value], yerr=[[n_value - n_lo], [n_hi - n_value]],
                               fmt="o", color="tab:red", capsize=4)
        for each in (loss_axes, size_axes):
            each.set_xscale("log")
            each.axvline(C0, color="grey", linestyle=":", linewidth=1.0)
            each.grid(True, which="both", alpha=0.2)
        size_axes.set_yscale("log")
        loss_axes.set_ylim(problem.best_loss(max(FACTORS) * C0) - 0.05,
                           problem.best_loss(3 * problem.cost_range()[0]) + 0.3)
        loss_axes.set_title(f"{name}, seed 0: loss, predicted at 10× and 100× C0")
        size_axes.set_title(f"{name}: model size N")
        size_axes.set_xlabel("compute (FLOPs)")
        loss_axes.legend(fontsize="x-small", loc="upper right")
        size_axes.legend(fontsize="x-small", loc="upper left")
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT, format="png")


def size_path(prediction: Any, compute: float) -> float:
    """The predicted model size at `compute`: the joint law's allocation, or the frontier's
    law of N where the prediction fell back to it."""
    if prediction.allocation is not None:
        allocation = prediction.allocation
        return float(allocation.values(allocation.law, compute)["n_params"])
    law = next(x for x in prediction.parameter_laws if x.parameter == "n_params")
    return float(law.predict(compute) or math.nan)


def _commit() -> str:
    """The commit the engine ran from, marked dirty when the tree had local changes."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True,
                              cwd=RESULTS_DIR.parent.parent, check=False).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" (dirty)" if git("status", "--porcelain",
                                                                    "--", "optimizer") else "")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--render", action="store_true", help="tables and plot from the JSON")
    args = parser.parse_args(argv)
    if args.render:
        import json

        payload = json.loads(RESULTS.read_text())
        rows = [predict_row(CONSTANT_SETS[r["problem"]], r) for r in payload["runs"]]
        payload["runs"], payload["summary"] = rows, summarise(rows)
        payload["predictions_commit"] = _commit()  # the studies ran at payload["commit"]
        write_json(RESULTS, payload)
    else:
        rows = []
        for name, problem in CONSTANT_SETS.items():
            for seed in range(args.seeds):
                rows.append(evaluate_run(problem, seed, args.trials))
                print(f"{name} seed {seed}: {rows[-1]['study_seconds']:.0f} s", flush=True)
        payload = {"c0": C0, "factors": list(FACTORS), "machine": machine_description(),
                   "versions": package_versions(), "commit": _commit(), "runs": rows}
        payload["summary"] = summarise(rows)
        write_json(RESULTS, payload)
    print(render_tables(summarise(rows)))
    plot(rows)
    print(f"wrote {RESULTS} and {PLOT}")


if __name__ == "__main__":
    main()
