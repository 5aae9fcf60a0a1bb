"""Chinchilla's model-size exponent at a fraction of the compute? The IsoFLOP grid beside ours.

Hoffmann et al. 2022's "approach 2": fix several FLOP budgets, train a grid of model sizes
at each (tokens = C / 6N), fit a parabola of loss in log10 N per budget and take its
minimum N_opt(C), then fit log10 N_opt against log10 C; the slope is the exponent. The
other hyperparameters stay where a practitioner would start them: the simulator's search
center (lr 1e-3, warmup 0.25, beta2 0.95), which is not their optimum and, for a learning
rate whose optimum moves with N, not the same distance from it at every size.

The grid: budgets log-spaced over 1e18-1e21 (Chinchilla's ran 6e18-3e21), sizes
log-spaced over ±1 decade about the 20-tokens-per-parameter guess (N = sqrt(C / 120)),
clipped to the simulator's box. Its interval is a bootstrap (80%) over the points of each
profile. Each grid is run with `SEEDS` noise draws (the simulator's own noise).

Ours: the law-calibration runs of the same simulators (60 trials, budget 1e22, from the
cheap and the mid center; `benchmarks.law_calibration`), their `scaling_laws()` exponent
and interval, and the same runs cut after their first k trials, to find the compute at
which ours is as accurate as each grid.

    .venv/bin/python -m benchmarks.isoflop          # after benchmarks.law_calibration
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table, median, write_json
from benchmarks.law_calibration import RESULTS as CALIBRATION
from benchmarks.law_calibration import calibration_entries, run_file
from benchmarks.problems import ChinchillaProblem
from benchmarks.quality import CarbsMethod, run_from_dict, trial_seed
from benchmarks.suite_problems import BESIROGLU, HOFFMANN, MUENNIGHOFF
from carbs_optimizer import get_pareto_groups, group_observations
from carbs_optimizer.laws.allocation import observed_scaling_laws

RESULTS = RESULTS_DIR / "isoflop.json"
PROBLEMS = (HOFFMANN, BESIROGLU, MUENNIGHOFF)
#: (budgets, sizes per budget): Chinchilla's own grid was 9 budgets of about 9 sizes.
GRIDS = ((9, 9), (5, 7), (3, 5))
BUDGETS = (1e18, 1e21)
SIZE_DECADES = 1.0
SEEDS = 10
LEVEL = 0.8
BOOTSTRAP = 200
#: Trial counts at which ours is cut to find the compute that matches a grid.
PREFIXES = (10, 15, 20, 30, 40, 60)


def vertex(log_n: np.ndarray, loss: np.ndarray) -> float:
    """The parabola's minimum in log10 N (the best point where the fit opens downward or the
    minimum leaves the sizes tried)."""
    if len(np.unique(log_n)) >= 3:
        a, b, _ = np.polyfit(log_n, loss, 2)
        if a > 0:
            found = -b / (2.0 * a)
            if log_n.min() <= found <= log_n.max():
                return float(found)
    return float(log_n[int(np.argmin(loss))])


def isoflop_grid(problem: ChinchillaProblem, budgets: int, sizes: int, seed: int) -> dict[
        str, Any]:
    """One IsoFLOP study: its exponent, 80% interval, compute spent and run count."""
    centers = {s.name: s.center for s in problem.specs}
    profiles: list[tuple[float, np.ndarray, np.ndarray]] = []
    spent, index = 0.0, 0
    for budget in np.geomspace(*BUDGETS, budgets):
        guess = math.log10(math.sqrt(budget / 120.0))
        log_n = np.linspace(guess - SIZE_DECADES, guess + SIZE_DECADES, sizes)
        low = max(math.log10(problem.n_min), math.log10(budget / 6.0 / problem.d_max))
        high = min(math.log10(problem.n_max), math.log10(budget / 6.0 / problem.d_min))
        log_n = np.unique(np.clip(log_n, low, high))
        losses: list[float] = []
        for value in log_n:
            n = 10.0**value
            params = dict(centers, n_params=n, tokens=budget / (6.0 * n))
            evaluation = problem.evaluate(params, trial_seed(seed, index))
            index += 1
            spent += evaluation.cost
            losses.append(evaluation.loss)
        profiles.append((math.log10(budget), log_n, np.array(losses)))
    costs = np.array([p[0] for p in profiles])
    exponent = float(np.polyfit(costs, [vertex(p[1], p[2]) for p in profiles], 1)[0])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        optima = []
        for _, sizes_tried, profile in profiles:
            chosen = rng.integers(0, len(sizes_tried), len(sizes_tried))
            optima.append(vertex(sizes_tried[chosen], profile[chosen]))
        draws.append(float(np.polyfit(costs, optima, 1)[0]))
    tail = (1.0 - LEVEL) / 2.0 * 100.0
    low_e, high_e = (float(v) for v in np.percentile(draws, [tail, 100.0 - tail]))
    return {"exponent": exponent, "interval": [min(low_e, exponent), max(high_e, exponent)],
            "spent": spent, "runs": index}


def prefix_exponents(entry_name: str, seed: int) -> list[dict[str, float | None]]:
    """Ours cut after its first k trials: the model-size exponent and the compute spent."""
    entry = next(e for e in calibration_entries() if e.name == entry_name)
    run = run_from_dict(json.loads(run_file(entry_name, seed).read_text()))
    out = []
    for k in PREFIXES:
        trials = run.trials[:k]
        method = CarbsMethod(entry.problem.specs, seed, None)
        for trial in trials:
            method.engine.observe(method._engine_module.ObservationInParam(
                input=dict(trial.params), output=0.0 if trial.failed else trial.loss,
                cost=trial.cost, is_failure=trial.failed))
        # The point law scaling_laws() reports, without its bootstrap (not needed here).
        engine = method.engine
        frontier = get_pareto_groups(group_observations(engine.success_observations), 0.0, -1)
        law = next(x for x in observed_scaling_laws(
            engine.params, engine.success_observations, frontier, 1)
            if x.parameter == "n_params")
        out.append({"trials": k, "spent": sum(t.cost for t in trials),
                    "exponent": law.exponent})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=SEEDS)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    calibration = json.loads(CALIBRATION.read_text())["runs"]
    out: dict[str, Any] = {"problems": {}}
    rows, match_rows = [], []
    for problem in PROBLEMS:
        truth = problem.n_opt_exponent
        result: dict[str, Any] = {"truth": truth, "grids": {}, "ours": {}}
        for budgets, sizes in GRIDS:
            grids = [isoflop_grid(problem, budgets, sizes, s) for s in range(args.seeds)]
            result["grids"][f"{budgets}x{sizes}"] = grids
            rows.append(_row(f"{problem.name}", f"IsoFLOP {budgets}x{sizes}", truth, [
                (g["exponent"], g["interval"], g["spent"]) for g in grids]))
        for center in ("cheap", "mid"):
            name = f"{problem.name}-{center}"
            finals, prefixes = [], []
            for seed in range(args.seeds):
                key = f"{name}/{seed}"
                if key not in calibration:
                    continue
                size = next(s for s in calibration[key] if s["parameter"] == "n_params")
                run = json.loads(run_file(name, seed).read_text())
                spent = sum(float(t["cost"]) for t in run["trials"])
                finals.append((size["estimate"], [size["low"], size["high"]], spent))
                prefixes.append(prefix_exponents(name, seed))
            result["ours"][center] = {"final": finals, "prefixes": prefixes}
            rows.append(_row(problem.name, f"ours from {center} (60 trials)", truth, finals))
            for grid_name, grids in result["grids"].items():
                match_rows.append(_match(problem.name, center, grid_name, truth, grids,
                                         prefixes))
        out["problems"][problem.name] = result
    write_json(RESULTS, out)
    print(markdown_table(["problem", "method", "truth", "compute spent (median)",
                          "exponent (median)", "median error", "interval width (median)",
                          "coverage"], rows))
    print()
    print(markdown_table(["problem", "ours from", "grid", "grid compute", "grid median error",
                          "ours: trials to match", "ours: compute to match",
                          "ours / grid compute"], match_rows))


def _row(problem: str, method: str, truth: float,
         results: Sequence[tuple[float | None, Sequence[float | None], float]]) -> list[str]:
    exponents = [e for e, _, _ in results if e is not None]
    widths = [iv[1] - iv[0] for _, iv, _ in results if iv[0] is not None and iv[1] is not None]
    covered = [iv[0] is not None and iv[1] is not None and iv[0] <= truth <= iv[1]
               for _, iv, _ in results]
    return [problem, method, f"{truth:.4f}", f"{median([s for _, _, s in results]):.2e}",
            f"{median(exponents):.3f}", f"{median([abs(e - truth) for e in exponents]):.3f}",
            f"{median(widths):.3f}", f"{np.mean(covered):.0%} of {len(results)}"]


def _match(problem: str, center: str, grid_name: str, truth: float,
           grids: Sequence[dict[str, Any]], prefixes: Sequence[Sequence[dict[str, Any]]],
           ) -> list[str]:
    """The fewest trials at which ours' median error over seeds is at most the grid's."""
    target = median([abs(g["exponent"] - truth) for g in grids])
    grid_spent = median([g["spent"] for g in grids])
    found = None
    for i, k in enumerate(PREFIXES):
        errors = [abs(p[i]["exponent"] - truth) if p[i]["exponent"] is not None else math.inf
                  for p in prefixes]
        if errors and median(errors) <= target:
            found = (k, median([p[i]["spent"] for p in prefixes]))
            break
    if found is None:
        return [problem, center, grid_name, f"{grid_spent:.2e}", f"{target:.3f}",
                "not within 60", "—", "—"]
    return [problem, center, grid_name, f"{grid_spent:.2e}", f"{target:.3f}", str(found[0]),
            f"{found[1]:.2e}", f"{found[1] / grid_spent:.3f}"]


if __name__ == "__main__":
    main()
