"""The search-quality suite: every method on every problem of ``benchmarks.suite_problems``,
with the same compute budget and trial cap, several seeds, side by side.

Methods: ``ours`` (this engine, defaults), ``reference`` (imbue-ai/carbs, run from the path
given by ``--reference``, in its own virtual environment: see ../shared/reference-carbs),
``gp`` (Optuna's GPSampler), ``tpe`` (Optuna's TPESampler) and ``random``.

Every (problem, method, seed) run is cached as JSON under ``benchmarks/results/suite/runs/``,
so the slow reference (~10 s per suggestion) can fill its cache in the background
(``--methods reference``), and a changed engine is re-measured with ``--fresh ours`` without
re-running the others. ``--render`` only summarises what is cached.

    .venv/bin/python -m benchmarks.suite                       # all problems, 5 seeds
    .venv/bin/python -m benchmarks.suite --methods reference --seeds 2 \\
        --reference ../shared/reference-carbs --reference-python .venv-reference/bin/python
    .venv/bin/python -m benchmarks.suite --render              # tables of the cache

Metrics per run: Pareto regret over log-spaced cost levels (as ``benchmarks.quality``), the
compute spent, the cheapest and the dearest trial, the model-size scaling exponent where the
problem has an analytic one (from ``scaling_laws()`` for ours, a direct fit for the others),
and the median suggest latency.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import (
    RESULTS_DIR,
    ParamSpec,
    markdown_table,
    median,
    nan_to_none,
    quantile,
    write_json,
)
from benchmarks.quality import (
    CarbsMethod,
    Method,
    RandomMethod,
    RunRecord,
    TpeMethod,
    best_found_at,
    direct_n_slope,
    pareto_regret,
    regret_baseline,
    run_dict,
    run_from_dict,
    run_method,
)
from benchmarks.suite_problems import SuiteEntry, entry_by_name, suite_entries

SUITE_DIR = RESULTS_DIR / "suite"
RUNS_DIR = SUITE_DIR / "runs"
METHODS = ("ours", "reference", "gp", "tpe", "random")
REPO_ROOT = Path(__file__).resolve().parent.parent


def build_method(name: str, specs: Sequence[ParamSpec], seed: int, budget: float) -> Method:
    """``ours`` gets the cap a study with ``maxTotalCost`` = ``budget`` gives the engine (the
    runtimes' ``suggestion_cost_cap``); the reference, like Optuna and random search, takes
    no budget and runs with its defaults."""
    if name == "ours":
        # Imported here: the reference's worker runs this module in the reference's venv,
        # which has none of the operator's dependencies.
        from carbs_operator.replay import BUDGET_SHARE_PER_TRIAL

        return CarbsMethod(specs, seed, budget * BUDGET_SHARE_PER_TRIAL)
    if name == "reference":
        return CarbsMethod(specs, seed, None, module="carbs")
    if name == "gp":
        return TpeMethod(specs, seed, sampler="GPSampler")
    if name == "tpe":
        return TpeMethod(specs, seed)
    if name == "random":
        return RandomMethod(specs, seed)
    raise ValueError(f"unknown method {name!r}")


def run_path(problem: str, method: str, seed: int) -> Path:
    return RUNS_DIR / problem / f"{method}-seed{seed}.json"


def run_one(entry: SuiteEntry, method: str, seed: int) -> RunRecord:
    """One run, written to its cache file (an errored run is written too: it is a result)."""
    specs = entry.problem.specs
    record = run_method(
        entry.problem, method, seed, entry.budget, max_trials=entry.max_trials,
        build=lambda: build_method(method, specs, seed, entry.budget),
    )
    path = run_path(entry.name, method, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nan_to_none(run_dict(record))) + "\n")
    return record


def run_reference(entry: SuiteEntry, seed: int, reference: Path, python: Path) -> None:
    """The reference in its own interpreter (its dependencies are not ours), writing the
    same cache file; nothing of its code is imported into this process."""
    env = dict(os.environ, WANDB_MODE="disabled", OMP_NUM_THREADS="1",
               PYTHONPATH=f"{REPO_ROOT}{os.pathsep}{reference.resolve()}")
    subprocess.run(
        [str(python), "-m", "benchmarks.suite", "--worker", entry.name, str(seed)],
        cwd=REPO_ROOT, env=env, check=True,
    )


def cached(problem: str, method: str, seed: int) -> RunRecord | None:
    path = run_path(problem, method, seed)
    return run_from_dict(json.loads(path.read_text())) if path.exists() else None


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


def summarise(entry: SuiteEntry, runs: Sequence[RunRecord]) -> dict[str, Any]:
    """Per-method medians and spreads of every metric, plus per-run numbers."""
    problem: Any = entry.problem
    best, kind, levels = regret_baseline(problem, runs, entry.budget)
    analytic_slope = getattr(problem, "n_opt_exponent", None)
    has_n = any(s.name == "n_params" for s in problem.specs)
    methods: dict[str, Any] = {}
    for method in METHODS:
        mine = [r for r in runs if r.method == method and not r.error]
        if not mine:
            continue
        per_run = []
        for run in mine:
            regret, _, empty = pareto_regret(run.trials, levels, best, problem.uninformed_loss)
            costs = [t.cost for t in run.trials]
            item: dict[str, Any] = {
                "seed": run.seed, "regret": regret, "empty_levels": empty,
                "trials": len(run.trials), "spent": sum(costs),
                "cheapest": min(costs), "dearest": max(costs),
                "ask_seconds": median([t.ask_seconds for t in run.trials]),
                "final_best": best_found_at(run.trials, math.inf),
            }
            if analytic_slope is not None and has_n:
                engine = run.scaling_exponents.get("n_params")
                item["n_slope"] = engine if engine is not None else direct_n_slope(run.trials)
            per_run.append(item)
        stats: dict[str, Any] = {"seeds": len(per_run), "runs": per_run}
        for key in ("regret", "spent", "cheapest", "dearest", "ask_seconds", "trials",
                    "n_slope", "empty_levels"):
            values = [float(p[key]) for p in per_run if p.get(key) is not None
                      and math.isfinite(float(p[key]))]
            if values:
                stats[key] = {"median": median(values), "q25": quantile(values, 0.25),
                              "q75": quantile(values, 0.75), "min": min(values),
                              "max": max(values)}
        methods[method] = stats
    return {
        "problem": entry.name, "note": entry.note, "budget": entry.budget,
        "max_trials": entry.max_trials, "levels": levels, "best_kind": kind,
        "analytic_n_slope": analytic_slope if has_n else None, "methods": methods,
    }


def _cell(stats: dict[str, Any], key: str, fmt: str) -> str:
    if key not in stats:
        return "—"
    s = stats[key]
    return f"{s['median']:{fmt}} [{s['min']:{fmt}}, {s['max']:{fmt}}]"


def render(summaries: Sequence[dict[str, Any]]) -> str:
    """One overview table (median regret per problem and method) and a table per problem."""
    out = ["Median Pareto regret (lower is better); `*` marks the lowest per problem.", ""]
    header = ["problem", *METHODS]
    rows = []
    for s in summaries:
        medians = {m: s["methods"][m]["regret"]["median"] for m in METHODS
                   if m in s["methods"] and "regret" in s["methods"][m]}
        low = min(medians.values()) if medians else math.nan
        row = [s["problem"]]
        for m in METHODS:
            if m not in medians:
                row.append("—")
                continue
            seeds = s["methods"][m]["seeds"]
            mark = "*" if medians[m] == low else ""
            row.append(f"{medians[m]:.4f}{mark} ({seeds})")
        rows.append(row)
    out += [markdown_table(header, rows), "", "(n) = seeds measured.", ""]
    for s in summaries:
        title = f"**{s['problem']}**: budget {s['budget']:.1e}, at most {s['max_trials']} trials"
        if s["note"]:
            title += f"; {s['note']}"
        if s["analytic_n_slope"] is not None:
            title += f"; analytic N exponent {s['analytic_n_slope']:.3f}"
        out += [title, ""]
        head = ["method", "regret median [min, max]", "spent", "cheapest trial", "dearest trial",
                "trials", "suggest (median)", "N exponent"]
        body = []
        for m, st in s["methods"].items():
            ask = st.get("ask_seconds", {}).get("median", math.nan)
            body.append([
                f"{m} ({st['seeds']})", _cell(st, "regret", ".4f"), _cell(st, "spent", ".1e"),
                _cell(st, "cheapest", ".1e"), _cell(st, "dearest", ".1e"),
                _cell(st, "trials", ".0f"), f"{ask * 1e3:.0f} ms",
                _cell(st, "n_slope", ".3f"),
            ])
        out += [markdown_table(head, body), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Search-quality suite.")
    names = [e.name for e in suite_entries()]
    parser.add_argument("--problems", nargs="+", default=names, choices=names)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--fresh", nargs="*", default=[], choices=METHODS,
                        help="re-run these methods even where cached")
    parser.add_argument("--reference", type=Path, default=REPO_ROOT.parent / "shared"
                        / "reference-carbs", help="folder holding the reference's carbs/")
    parser.add_argument("--reference-python", type=Path,
                        default=REPO_ROOT / ".venv-reference" / "bin" / "python",
                        help="an interpreter in which the reference imports (setup-venv.sh)")
    parser.add_argument("--render", action="store_true", help="summarise the cache only")
    parser.add_argument("--worker", nargs=2, metavar=("PROBLEM", "SEED"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        import torch

        torch.set_num_threads(1)
        run_one(entry_by_name(args.worker[0]), "reference", int(args.worker[1]))
        return
    if not args.render:
        import torch

        torch.set_num_threads(2)
        for entry in (e for e in suite_entries() if e.name in args.problems):
            for seed in range(args.seeds):
                for method in args.methods:
                    if run_path(entry.name, method, seed).exists() and method not in args.fresh:
                        continue
                    if method == "reference":
                        if not (args.reference / "carbs").is_dir():
                            print(f"reference not found under {args.reference}; skipped",
                                  file=sys.stderr)
                            continue
                        run_reference(entry, seed, args.reference, args.reference_python)
                    else:
                        run_one(entry, method, seed)
                    print(f"  {entry.name} {method} seed={seed} done", file=sys.stderr,
                          flush=True)
    summaries = []
    for entry in (e for e in suite_entries() if e.name in args.problems):
        runs = [r for m in METHODS for s in range(10)
                if (r := cached(entry.name, m, s)) is not None]
        if runs:
            summaries.append(summarise(entry, runs))
    write_json(SUITE_DIR / "summary.json", {"summaries": summaries})
    print(render(summaries))


if __name__ == "__main__":
    main()
