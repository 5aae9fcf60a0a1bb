"""Cost-aware quality: who finds the best loss at every compute level, for equal compute?

Every method gets the same total compute budget per run and runs trials one after another
until the sum of their costs exceeds it (the trial that crosses the budget is kept: it ran).
Methods: our engine (CARBS, minimising), the same with ``max_suggestion_cost`` (optional),
random search (uniform in each parameter's basic space) and Optuna's TPE (not cost-aware;
same budget accounting). Each (problem, method) runs for several seeds.

Metric, Pareto regret: at ~10 log-spaced compute levels C, the best (true) loss the method
found among its trials with cost ≤ C, minus the best achievable loss at C; averaged over the
levels. The best achievable is analytic for the Chinchilla simulator and, for the digits
MLP, the lower envelope of everything any method and seed found. See benchmarks/README.md.

Run from the repository root::

    .venv/bin/python -m benchmarks.quality            # full run (~15-20 minutes, 2 cores)
    .venv/bin/python -m benchmarks.quality --quick    # smoke run (~1 minute)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from benchmarks.common import (
    RESULTS_DIR,
    ParamSpec,
    carbs_params,
    engine_available,
    machine_description,
    markdown_table,
    median,
    nan_to_none,
    optuna_distributions,
    package_versions,
    quantile,
    sample_point,
    write_json,
)
from benchmarks.problems import ChinchillaProblem, DigitsProblem, Evaluation, Problem

#: Budgets: sized so our engine runs ~60-100 trials on each problem (see README).
BUDGETS = {"chinchilla": 1e22, "digits": 2e11}
#: Compute levels for regret: N_LEVELS log-spaced from LEVEL_HIGH/10^LEVEL_DECADES to
#: LEVEL_HIGH, LEVEL_HIGH = budget × LEVEL_HIGH_FRACTION (a single trial can't use the
#: whole budget and leave room for a search).
N_LEVELS = 10
LEVEL_HIGH_FRACTION = 0.1
LEVEL_DECADES = 3.0
#: ``carbs-cheap-start`` is a diagnostic added after the first full run (see README): our engine
#: with its search center moved to the cheap end of the cost range. Not in the default set.
ALL_METHODS = ("carbs", "carbs-capped", "random", "tpe", "carbs-cheap-start")
DEFAULT_METHODS = ("carbs", "carbs-capped", "random", "tpe")
#: Analytic d log N_opt / d log C target tolerance (the brief's ±0.03).
SLOPE_TOLERANCE = 0.03


# --------------------------------------------------------------------------------------------
# Methods: one ask/tell interface over our engine, random search and Optuna TPE
# --------------------------------------------------------------------------------------------


class Method(Protocol):
    """A sequential optimiser: propose a configuration, then learn its result."""

    def ask(self) -> dict[str, float]:
        """Next configuration (parameter values by name)."""
        ...

    def tell(self, params: dict[str, float], evaluation: Evaluation) -> None:
        """Report the result of the configuration last returned by :meth:`ask`."""
        ...


class CarbsMethod:
    """Our engine (or, with ``module="carbs"``, the reference CARBS), minimising the loss,
    with default settings plus an optional cost cap."""

    def __init__(
        self,
        specs: Sequence[ParamSpec],
        seed: int,
        max_suggestion_cost: float | None,
        module: str = "carbs_optimizer",
    ) -> None:
        import importlib

        self._engine_module = importlib.import_module(module)
        settings: dict[str, Any] = {
            "better_direction_sign": -1, "seed": seed, "max_suggestion_cost": max_suggestion_cost,
        }
        if module == "carbs_optimizer":
            settings["device"] = "cpu"
        else:  # the reference: no wandb run, no checkpoint file per observation
            settings.update(is_wandb_logging_enabled=False, is_saved_on_every_observation=False)
        config = self._engine_module.CARBSParams(**settings)
        self.engine = self._engine_module.CARBS(config, carbs_params(specs, module))
        self._specs = list(specs)
        self._pending: dict[str, Any] = {}

    def ask(self) -> dict[str, float]:
        """The engine's suggestion, integers cast (the engine may return 64.0)."""
        self._pending = dict(self.engine.suggest().suggestion)
        return {spec.name: spec.clip_round(float(self._pending[spec.name])) for spec in self._specs}

    def tell(self, params: dict[str, float], evaluation: Evaluation) -> None:
        """Observe; a failure goes in as ``is_failure`` with a placeholder output."""
        output = 0.0 if evaluation.failed else evaluation.loss
        self.engine.observe(
            self._engine_module.ObservationInParam(
                input=self._pending,
                output=output,
                cost=evaluation.cost,
                is_failure=evaluation.failed,
            )
        )


class RandomMethod:
    """Uniform in each parameter's basic space (log-uniform for log parameters)."""

    def __init__(self, specs: Sequence[ParamSpec], seed: int) -> None:
        self._specs = list(specs)
        self._rng = np.random.default_rng(seed)

    def ask(self) -> dict[str, float]:
        """A fresh uniform sample."""
        return sample_point(self._specs, self._rng)

    def tell(self, params: dict[str, float], evaluation: Evaluation) -> None:
        """Random search learns nothing."""


class TpeMethod:
    """Optuna's TPESampler (or, with ``sampler="GPSampler"``, another of Optuna's samplers)
    with its defaults (10 random start-up trials), minimising."""

    def __init__(
        self, specs: Sequence[ParamSpec], seed: int, sampler: str = "TPESampler"
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._specs = list(specs)
        self._distributions = optuna_distributions(specs)
        self._study = optuna.create_study(
            direction="minimize", sampler=getattr(optuna.samplers, sampler)(seed=seed)
        )
        self._trial: Any = None

    def ask(self) -> dict[str, float]:
        """Sample every parameter; integers are rounded to their factor (Optuna has no log
        integer with a step > 1), so TPE evaluates the same grid as the others."""
        self._trial = self._study.ask(self._distributions)
        return {
            spec.name: spec.clip_round(float(self._trial.params[spec.name])) for spec in self._specs
        }

    def tell(self, params: dict[str, float], evaluation: Evaluation) -> None:
        """Complete the trial, or fail it."""
        if evaluation.failed:
            self._study.tell(self._trial, state=self._optuna.trial.TrialState.FAIL)
        else:
            self._study.tell(self._trial, evaluation.loss)


def make_method(
    name: str,
    specs: Sequence[ParamSpec],
    seed: int,
    budget: float,
    cheap_center: dict[str, float] | None = None,
) -> Method:
    """Build a method by name. ``carbs-capped`` caps predicted trial cost at the top regret
    level (budget × LEVEL_HIGH_FRACTION), so it never bets a large share of the budget on
    one trial. ``carbs-cheap-start`` starts the search at ``cheap_center`` (the problem's
    cheap corner) instead of the default center."""
    if name == "carbs":
        return CarbsMethod(specs, seed, None)
    if name == "carbs-capped":
        return CarbsMethod(specs, seed, budget * LEVEL_HIGH_FRACTION)
    if name == "carbs-cheap-start":
        centers = cheap_center or {}
        moved = [replace(spec, center=centers.get(spec.name, spec.center)) for spec in specs]
        return CarbsMethod(moved, seed, None)
    if name == "random":
        return RandomMethod(specs, seed)
    if name == "tpe":
        return TpeMethod(specs, seed)
    raise ValueError(f"unknown method {name!r}")


# --------------------------------------------------------------------------------------------
# The budgeted loop
# --------------------------------------------------------------------------------------------


@dataclass
class TrialRecord:
    """One trial of one run."""

    index: int
    params: dict[str, float]
    loss: float
    true_loss: float
    cost: float
    failed: bool
    ask_seconds: float


@dataclass
class RunRecord:
    """One (problem, method, seed) run."""

    problem: str
    method: str
    seed: int
    budget: float
    trials: list[TrialRecord] = field(default_factory=list)
    wall_seconds: float = 0.0
    error: str | None = None
    #: Our engine's ``scaling_laws()`` exponents at the end of the run (parameter → slope of
    #: its basic coordinate against log10 cost over the frontier); empty for other methods.
    scaling_exponents: dict[str, float | None] = field(default_factory=dict)

    @property
    def total_cost(self) -> float:
        """Compute spent (may exceed the budget by the last trial)."""
        return sum(t.cost for t in self.trials)


def trial_seed(seed: int, index: int) -> int:
    """Problem-side seed of trial ``index`` in run ``seed`` (noise draw / init seed). The same
    for every method, so methods see common random numbers at equal (seed, index)."""
    return 1_000_003 * (seed + 1) + index


def run_method(
    problem: Problem,
    method_name: str,
    seed: int,
    budget: float,
    max_trials: int | None = None,
    build: Callable[[], Method] | None = None,
) -> RunRecord:
    """Run trials until their summed cost exceeds ``budget`` (or ``max_trials`` ran).

    ``build`` makes the method when it is not one of :func:`make_method`'s names (the suite's
    extra methods). An exception from the optimiser ends the run early and is recorded (not
    raised), so one misbehaving method cannot lose the other methods' results.
    """
    record = RunRecord(problem=problem.name, method=method_name, seed=seed, budget=budget)
    start = time.perf_counter()
    spent = 0.0
    try:
        if build is not None:
            method = build()
        else:
            method = make_method(method_name, problem.specs, seed, budget, problem.cheap_center)
        index = 0
        while spent <= budget and (max_trials is None or index < max_trials):
            ask_start = time.perf_counter()
            params = method.ask()
            ask_seconds = time.perf_counter() - ask_start
            evaluation = problem.evaluate(params, trial_seed(seed, index))
            method.tell(params, evaluation)
            record.trials.append(
                TrialRecord(
                    index=index,
                    params=params,
                    loss=evaluation.loss,
                    true_loss=evaluation.true_loss,
                    cost=evaluation.cost,
                    failed=evaluation.failed,
                    ask_seconds=ask_seconds,
                )
            )
            spent += evaluation.cost
            index += 1
        if hasattr(method, "engine") and hasattr(method.engine, "scaling_laws"):
            record.scaling_exponents = {
                law.parameter: law.exponent for law in method.engine.scaling_laws()
            }
    except Exception as exc:  # recorded and reported, see docstring
        record.error = f"{type(exc).__name__}: {exc}"
    record.wall_seconds = time.perf_counter() - start
    return record


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def compute_levels(budget: float, cost_floor: float, cost_ceiling: float) -> list[float]:
    """The regret levels: N_LEVELS log-spaced, top = budget × LEVEL_HIGH_FRACTION (capped by
    ``cost_ceiling``), bottom = top / 10^LEVEL_DECADES (raised to ``cost_floor``)."""
    high = min(budget * LEVEL_HIGH_FRACTION, cost_ceiling)
    low = max(high / 10**LEVEL_DECADES, cost_floor)
    return [float(c) for c in np.geomspace(low, high, N_LEVELS)]


def best_found_at(trials: Sequence[TrialRecord], compute: float) -> float:
    """Best true loss among successful trials with cost ≤ compute (inf if none)."""
    losses = [t.true_loss for t in trials if not t.failed and t.cost <= compute]
    return min(losses) if losses else math.inf


def pareto_regret(
    trials: Sequence[TrialRecord],
    levels: Sequence[float],
    best_achievable: Callable[[float], float],
    uninformed_loss: float,
) -> tuple[float, list[float], int]:
    """Mean over levels of (best found at ≤ C) − (best achievable at C).

    A level where the method has nothing is charged ``uninformed_loss`` as its "found".
    Returns (mean regret, per-level regrets, number of such empty levels).
    """
    regrets: list[float] = []
    empty = 0
    for compute in levels:
        found = best_found_at(trials, compute)
        if not math.isfinite(found):
            found = uninformed_loss
            empty += 1
        regrets.append(found - best_achievable(compute))
    return float(np.mean(regrets)), regrets, empty


def pareto_front(trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """Trials on the observed cost/loss frontier: by increasing cost, each that beats every
    cheaper one on observed loss (what a user of the method would see)."""
    front: list[TrialRecord] = []
    best = math.inf
    for trial in sorted((t for t in trials if not t.failed), key=lambda t: t.cost):
        if trial.loss < best:
            front.append(trial)
            best = trial.loss
    return front


def direct_n_slope(trials: Sequence[TrialRecord]) -> float:
    """Least-squares slope of log10 N against log10 cost over the observed frontier."""
    front = pareto_front(trials)
    if len(front) < 3:
        return math.nan
    x = np.log10([t.cost for t in front])
    y = np.log10([t.params["n_params"] for t in front])
    if float(np.ptp(x)) == 0.0:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def envelope(runs: Sequence[RunRecord]) -> Callable[[float], float]:
    """Empirical best achievable: the lowest loss any run found at cost ≤ C."""
    points = sorted((t.cost, t.true_loss) for run in runs for t in run.trials if not t.failed)
    costs = np.array([c for c, _ in points])
    running_min = np.minimum.accumulate(np.array([loss for _, loss in points]))

    def best(compute: float) -> float:
        index = int(np.searchsorted(costs, compute, side="right")) - 1
        return float(running_min[index]) if index >= 0 else math.inf

    return best


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


def run_problem(
    problem: Problem, methods: Sequence[str], seeds: Sequence[int], budget: float
) -> list[RunRecord]:
    """All (method, seed) runs of one problem, with a progress line each."""
    runs: list[RunRecord] = []
    for seed in seeds:
        for method in methods:
            run = run_method(problem, method, seed, budget)
            runs.append(run)
            status = f" ERROR {run.error}" if run.error else ""
            print(
                f"  {problem.name:10s} {method:13s} seed={seed} trials={len(run.trials):3d} "
                f"cost={run.total_cost:.2e} wall={run.wall_seconds:5.1f}s{status}",
                file=sys.stderr,
                flush=True,
            )
    return runs


def regret_baseline(
    problem: Problem, runs: Sequence[RunRecord], budget: float
) -> tuple[Callable[[float], float], str, list[float]]:
    """What regret is measured against: the best achievable loss at each cost (analytic
    where the problem knows it, else the lower envelope of all runs), its kind, and the
    compute levels."""
    cheapest, dearest = problem.cost_range()
    known: Callable[[float], float] | None = getattr(problem, "best_loss", None)
    if known is not None:
        return known, "analytic", compute_levels(budget, cheapest, dearest)
    # The envelope is undefined under the cheapest successful trial of any run: start the
    # levels there (no method is charged for compute nobody explored).
    observed = [t.cost for run in runs for t in run.trials if not t.failed]
    cheapest = max(cheapest, min(observed, default=cheapest))
    return (envelope(runs), "empirical lower envelope over all methods and seeds",
            compute_levels(budget, cheapest, dearest))


def summarise(
    problem: Problem,
    runs: Sequence[RunRecord],
    methods: Sequence[str],
    budget: float,
) -> dict[str, Any]:
    """Per-method medians and IQRs of the metrics, plus each run's numbers."""
    best_achievable, best_kind, levels = regret_baseline(problem, runs, budget)
    per_run: list[dict[str, Any]] = []
    for run in runs:
        regret, per_level, empty = pareto_regret(
            run.trials, levels, best_achievable, problem.uninformed_loss
        )
        entry: dict[str, Any] = {
            "method": run.method,
            "seed": run.seed,
            "trials": len(run.trials),
            "failed_trials": sum(t.failed for t in run.trials),
            "total_cost": run.total_cost,
            "wall_seconds": run.wall_seconds,
            "median_ask_seconds": median([t.ask_seconds for t in run.trials]),
            "pareto_regret": regret,
            "regret_per_level": per_level,
            "empty_levels": empty,
            "final_best_loss": best_found_at(run.trials, math.inf),
            "error": run.error,
        }
        if isinstance(problem, ChinchillaProblem):
            entry["direct_n_slope"] = direct_n_slope(run.trials)
            for parameter, key in (("n_params", "engine_n_slope"), ("lr", "engine_lr_slope")):
                exponent = run.scaling_exponents.get(parameter)
                if exponent is not None:
                    entry[key] = exponent
        per_run.append(entry)
    by_method: dict[str, dict[str, Any]] = {}
    keys = [
        "pareto_regret",
        "final_best_loss",
        "trials",
        "total_cost",
        "empty_levels",
        "wall_seconds",
        "median_ask_seconds",
        "direct_n_slope",
        "engine_n_slope",
        "engine_lr_slope",
    ]
    for method in methods:
        entries = [e for e in per_run if e["method"] == method]
        stats: dict[str, Any] = {"errors": [e["error"] for e in entries if e["error"]]}
        for key in keys:
            values = [float(e[key]) for e in entries if key in e and math.isfinite(float(e[key]))]
            if values:
                stats[key] = {
                    "median": median(values),
                    "q25": quantile(values, 0.25),
                    "q75": quantile(values, 0.75),
                }
        regret_by_level = np.array([e["regret_per_level"] for e in entries])
        stats["median_regret_per_level"] = [float(v) for v in np.median(regret_by_level, axis=0)]
        by_method[method] = stats
    summary: dict[str, Any] = {
        "problem": problem.name,
        "budget": budget,
        "levels": levels,
        "best_achievable_kind": best_kind,
        "best_achievable_at_levels": [best_achievable(c) for c in levels],
        "uninformed_loss": problem.uninformed_loss,
        "methods": by_method,
        "runs": per_run,
    }
    if isinstance(problem, ChinchillaProblem):
        summary["analytic_n_slope"] = problem.n_opt_exponent
        summary["analytic_lr_slope"] = problem.lr_exp * problem.n_opt_exponent
    return summary


def _iqr(stats: dict[str, Any], key: str, fmt: str) -> str:
    """'median [q25, q75]' for a table cell."""
    if key not in stats:
        return "—"
    s = stats[key]
    return f"{s['median']:{fmt}} [{s['q25']:{fmt}}, {s['q75']:{fmt}}]"


def render_tables(summaries: Sequence[dict[str, Any]], seeds: int) -> str:
    """Markdown tables of a quality run."""
    out: list[str] = []
    for summary in summaries:
        out.append(
            f"**{summary['problem']}** — budget {summary['budget']:.1e} FLOPs per run, "
            f"{seeds} seeds, median [IQR]; best achievable: {summary['best_achievable_kind']}; "
            f"levels {summary['levels'][0]:.1e} … {summary['levels'][-1]:.1e} FLOPs"
        )
        out.append("")
        header = [
            "method",
            "Pareto regret",
            "final best loss",
            "trials",
            "compute used",
            "empty levels",
            "median ask",
        ]
        chinchilla = "analytic_n_slope" in summary
        if chinchilla:
            header += ["N slope (direct fit)", "N slope (scaling_laws)"]
        rows: list[list[str]] = []
        for method, stats in summary["methods"].items():
            row = [
                method,
                _iqr(stats, "pareto_regret", ".4f"),
                _iqr(stats, "final_best_loss", ".4f"),
                _iqr(stats, "trials", ".0f"),
                _iqr(stats, "total_cost", ".2e"),
                _iqr(stats, "empty_levels", ".0f"),
                f"{stats['median_ask_seconds']['median'] * 1e3:.1f} ms"
                if "median_ask_seconds" in stats
                else "—",
            ]
            if chinchilla:
                row += [_iqr(stats, "direct_n_slope", ".3f"), _iqr(stats, "engine_n_slope", ".3f")]
            if stats["errors"]:
                row[0] += f" ({len(stats['errors'])} errored)"
            rows.append(row)
        out.append(markdown_table(header, rows))
        out.append("")
        if chinchilla:
            out.append(
                f"Analytic N slope β/(α+β) = {summary['analytic_n_slope']:.4f} "
                f"(target ±{SLOPE_TOLERANCE})."
            )
            out.append("")
        level_header = ["C (FLOPs)", "best achievable", *summary["methods"].keys()]
        level_rows = []
        for i, compute in enumerate(summary["levels"]):
            level_rows.append(
                [f"{compute:.1e}", f"{summary['best_achievable_at_levels'][i]:.4f}"]
                + [
                    f"{stats['median_regret_per_level'][i]:.4f}"
                    for stats in summary["methods"].values()
                ]
            )
        out.append("Median regret per compute level:")
        out.append("")
        out.append(markdown_table(level_header, level_rows))
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, run both problems, write JSON, print the tables."""
    parser = argparse.ArgumentParser(description="Cost-aware quality benchmark.")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 2%% budgets")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per (problem, method)")
    parser.add_argument(
        "--problems", nargs="+", default=["chinchilla", "digits"], choices=["chinchilla", "digits"]
    )
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), choices=ALL_METHODS)
    parser.add_argument(
        "--budget-scale",
        type=float,
        default=1.0,
        help="multiply every problem's budget (for calibration)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=RESULTS_DIR,
        help="where quality-<problem>.json and its trial log go (default benchmarks/results)",
    )
    parser.add_argument(
        "--extend",
        action="store_true",
        help="keep the runs already in quality-<problem>.trials.json, run only --methods, and "
        "summarise all together (adds a method to a finished run without redoing it)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="run nothing: print the tables of the saved quality-<problem>.json files",
    )
    args = parser.parse_args(argv)
    if args.render:
        for name in args.problems:
            saved = json.loads((args.output_dir / f"quality-{name}.json").read_text())
            print(render_tables([saved["summary"]], len(saved["seeds"])))
        return

    torch.set_num_threads(2)
    methods = list(args.methods)
    if not engine_available():
        print(
            "carbs_optimizer.CARBS is not importable: running without our engine", file=sys.stderr
        )
        methods = [m for m in methods if not m.startswith("carbs")]
    seeds = list(range(1 if args.quick else args.seeds))
    scale = args.budget_scale * (0.02 if args.quick else 1.0)
    problems: dict[str, Problem] = {"chinchilla": ChinchillaProblem(), "digits": DigitsProblem()}

    # Quick runs write git-ignored files (*.raw.json).
    suffix = ".quick.raw" if args.quick else ""
    for name in args.problems:
        problem = problems[name]
        budget = BUDGETS[name] * scale
        print(f"{name}: budget {budget:.2e}", file=sys.stderr, flush=True)
        trials_name = (
            f"quality-{name}.quick.trials.raw.json" if args.quick else f"quality-{name}.trials.json"
        )
        trials_path = args.output_dir / trials_name
        previous = load_runs(trials_path) if args.extend else []
        previous = [r for r in previous if r.method not in methods and r.seed in seeds]
        started = time.perf_counter()
        runs = previous + run_problem(problem, methods, seeds, budget)
        wall = time.perf_counter() - started + sum(r.wall_seconds for r in previous)
        all_methods = list(dict.fromkeys([r.method for r in previous] + methods))
        summary = summarise(problem, runs, all_methods, budget)
        payload = {
            "benchmark": "quality",
            "problem": name,
            "quick": args.quick,
            "seeds": seeds,
            "methods": all_methods,
            "machine": machine_description(),
            "versions": package_versions(),
            "wall_seconds": wall,
            "settings": {
                "budget": budget,
                "n_levels": N_LEVELS,
                "level_high_fraction": LEVEL_HIGH_FRACTION,
                "level_decades": LEVEL_DECADES,
            },
            "summary": summary,
        }
        output = args.output_dir / f"quality-{name}{suffix}.json"
        write_json(output, payload)
        # Every trial of every run, one compact line per run: enough to recompute any table.
        trials_path.write_text(
            "[\n" + ",\n".join(json.dumps(nan_to_none(run_dict(run))) for run in runs) + "\n]\n"
        )
        print(render_tables([summary], len(seeds)), flush=True)
        print(f"{name}: wall time {wall:.0f} s; results in {output}", file=sys.stderr)


def load_runs(path: Path) -> list[RunRecord]:
    """Runs from a trial log written by :func:`main` (missing file: none)."""
    if not path.exists():
        return []
    return [run_from_dict(raw) for raw in json.loads(path.read_text())]


def run_from_dict(raw: dict[str, Any]) -> RunRecord:
    """One run from its :func:`run_dict` form (NaN losses were written as null)."""
    raw = dict(raw)
    trials = [
        TrialRecord(
            **{
                **t,
                "loss": math.nan if t["loss"] is None else t["loss"],
                "true_loss": math.nan if t["true_loss"] is None else t["true_loss"],
            }
        )
        for t in raw.pop("trials")
    ]
    return RunRecord(**raw, trials=trials)


def run_dict(run: RunRecord) -> dict[str, Any]:
    """A run as plain data, floats rounded to what the tables need (keeps the file small)."""
    out = asdict(run)
    for trial in out["trials"]:
        trial["params"] = {k: float(f"{v:.6g}") for k, v in trial["params"].items()}
        for key in ("loss", "true_loss", "cost", "ask_seconds"):
            trial[key] = float(f"{trial[key]:.6g}")
    return out


if __name__ == "__main__":
    main()
