"""Are the laws' 80% intervals honest? Coverage, error and verdicts on the suite's simulators.

Every parameter of the suite's Chinchilla simulators has an analytic exponent against
compute: model size β/(α+β), tokens α/(α+β), the learning rate `lr_exp` · β/(α+β) (its
optimum moves as N^lr_exp), and 0 for every nuisance (warmup, beta2, the high-dimensional
variant's x0..x8; Muennighoff's learning rate too, whose optimum does not move). The
integer variant's layers and width split N = 12·layers·width² in ways that cost the same,
so they have no exponent of their own; its model-size exponent is read as 1 − the tokens
exponent (cost is 6·N·D, so along the path the two sum to one).

For each run of `ours` this replays the run's trials into a fresh engine, asks
`scaling_laws()` (the same call the operator's status makes) and scores each law: its error,
whether its interval holds the truth, and its verdict. Runs are the suite's cached ones
(`results/suite/runs/`) plus the seeds this benchmark adds (`results/law_calibration/runs/`,
the same code path as `benchmarks.suite`), at least 8 seeds a problem; problems whose
center the suite only has at mid-range get a cheap-center twin here.

    .venv/bin/python -m benchmarks.law_calibration --run      # add missing seeds, then score
    .venv/bin/python -m benchmarks.law_calibration            # score what is cached
    .venv/bin/python -m benchmarks.law_calibration --timing   # scaling_laws() at 200 and 2000

Targets (issue 23): coverage 70-90%; the model-size exponent's median error ≤ 0.03 on every
problem; nuisance parameters called "no law" in ≥ 80% of runs.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, markdown_table, median, nan_to_none, write_json
from benchmarks.problems import ChinchillaProblem
from benchmarks.quality import CarbsMethod, RunRecord, run_dict, run_from_dict, run_method
from benchmarks.suite import build_method
from benchmarks.suite import run_path as suite_run_path
from benchmarks.suite_problems import (
    CHEAP,
    CHINCHILLA_BUDGET,
    Centered,
    LayersWidthChinchilla,
    NuisanceChinchilla,
    SuiteEntry,
    suite_entries,
)

OUT_DIR = RESULTS_DIR / "law_calibration"
RUNS_DIR = OUT_DIR / "runs"
RESULTS = RESULTS_DIR / "law_calibration.json"
SEEDS = 10
TIMING_TRIALS = (200, 2000)
SIMULATORS = ("hoffmann-cheap", "hoffmann-mid", "besiroglu-cheap", "besiroglu-mid",
              "muennighoff-cheap", "muennighoff-mid", "noisy-mid", "highdim-mid", "integer-mid")
#: The model-size law each problem is judged on.
SIZE = "n_params"
DERIVED_SIZE = "n_params (1 - tokens)"


def calibration_entries() -> list[SuiteEntry]:
    """The suite's simulators, plus cheap-center twins of those the suite runs from mid only."""
    entries = [e for e in suite_entries() if e.name in SIMULATORS]
    by_name = {e.name: e for e in entries}
    for name in ("noisy", "highdim", "integer"):
        mid = by_name[f"{name}-mid"].problem
        assert isinstance(mid, Centered)
        inner = mid.inner
        centers = (dict(inner.cheap_center) if isinstance(inner, LayersWidthChinchilla)
                   else dict(CHEAP))
        entries.append(SuiteEntry(f"{name}-cheap", Centered(inner, f"{name}-cheap", centers),
                                  CHINCHILLA_BUDGET, note=by_name[f"{name}-mid"].note))
    return entries


def base_problem(entry: SuiteEntry) -> ChinchillaProblem:
    inner: Any = entry.problem
    inner = getattr(inner, "inner", inner)
    if isinstance(inner, NuisanceChinchilla | LayersWidthChinchilla):
        return inner.base
    assert isinstance(inner, ChinchillaProblem)
    return inner


def truths(entry: SuiteEntry) -> dict[str, float]:
    """Each parameter's analytic exponent (in the law's coordinate per decade of cost)."""
    base = base_problem(entry)
    size = base.n_opt_exponent
    out = {SIZE: size, "tokens": 1.0 - size, "lr": base.lr_exp * size, "warmup": 0.0,
           "beta2": 0.0}
    names = [s.name for s in entry.problem.specs]
    out.update({name: 0.0 for name in names if name.startswith("x")})
    if "layers" in names:
        out[DERIVED_SIZE] = size
    return {k: v for k, v in out.items() if k in names or k == DERIVED_SIZE}


def run_file(entry: str, seed: int) -> Any:
    suite = suite_run_path(entry, "ours", seed)
    return suite if suite.exists() else RUNS_DIR / entry / f"ours-seed{seed}.json"


def ensure_run(entry: SuiteEntry, seed: int) -> None:
    """Run `ours` on (entry, seed) unless the suite or this benchmark has it cached."""
    path = run_file(entry.name, seed)
    if path.exists():
        return
    specs = entry.problem.specs
    record = run_method(entry.problem, "ours", seed, entry.budget, max_trials=entry.max_trials,
                        build=lambda: build_method("ours", specs, seed, entry.budget))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nan_to_none(run_dict(record))) + "\n")


@dataclass(frozen=True)
class Scored:
    parameter: str
    truth: float
    estimate: float | None
    low: float | None
    high: float | None
    verdict: str

    @property
    def error(self) -> float | None:
        return None if self.estimate is None else abs(self.estimate - self.truth)

    @property
    def covered(self) -> bool:
        return self.low is not None and self.high is not None and (
            self.low <= self.truth <= self.high)


def score_run(entry: SuiteEntry, run: RunRecord) -> tuple[list[Scored], float]:
    """Replay the run's trials into a fresh engine and score its laws; (scores, seconds of
    scaling_laws())."""
    method = CarbsMethod(entry.problem.specs, run.seed, None)
    engine = method.engine
    module = method._engine_module
    for trial in run.trials:
        engine.observe(module.ObservationInParam(
            input=dict(trial.params), output=0.0 if trial.failed else trial.loss,
            cost=trial.cost, is_failure=trial.failed))
    began = time.perf_counter()
    laws = {law.parameter: law for law in engine.scaling_laws()}
    seconds = time.perf_counter() - began
    out = []
    for name, truth in truths(entry).items():
        if name == DERIVED_SIZE:
            law = laws["tokens"]
            estimate = None if law.exponent is None else 1.0 - law.exponent
            interval = law.exponent_interval
            low, high = (None, None) if interval is None else (1.0 - interval[1],
                                                              1.0 - interval[0])
        else:
            law = laws[name]
            estimate = law.exponent
            low, high = law.exponent_interval or (None, None)
        out.append(Scored(name, truth, estimate, low, high, law.verdict))
    return out, seconds


def summarise(name: str, scored: Sequence[Sequence[Scored]]) -> dict[str, Any]:
    flat = [s for run in scored for s in run]
    size = [s for s in flat if s.parameter in (SIZE, DERIVED_SIZE)]
    zero = [s for s in flat if s.truth == 0.0]
    moving = [s for s in flat if s.truth != 0.0 and s.parameter != DERIVED_SIZE]
    widths = [s.high - s.low for s in size if s.high is not None and s.low is not None]
    per_parameter = {}
    for parameter in dict.fromkeys(s.parameter for s in flat):
        mine = [s for s in flat if s.parameter == parameter]
        per_parameter[parameter] = {
            "truth": mine[0].truth,
            "median_error": median([s.error for s in mine if s.error is not None]),
            "coverage": float(np.mean([s.covered for s in mine])),
            "verdicts": dict(sorted({v: sum(s.verdict == v for s in mine)
                                     for v in {s.verdict for s in mine}}.items())),
        }
    return {
        "problem": name, "runs": len(scored),
        "size_median_error": median([s.error for s in size if s.error is not None]),
        "size_coverage": float(np.mean([s.covered for s in size])) if size else math.nan,
        "size_median_width": median(widths),
        "coverage": float(np.mean([s.covered for s in flat if s.parameter != DERIVED_SIZE])),
        "coverage_moving": float(np.mean([s.covered for s in moving])) if moving else math.nan,
        "coverage_zero": float(np.mean([s.covered for s in zero])) if zero else math.nan,
        "zero_no_law": float(np.mean([s.verdict == "no law" for s in zero])) if zero
        else math.nan,
        "moving_law": float(np.mean([s.verdict == "law" for s in moving])) if moving
        else math.nan,
        "parameters": per_parameter,
    }


def pooled(summaries: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Each rate averaged over the problems (weighted by their runs), so that the
    high-dimensional problem's nine nuisances do not outvote the rest."""
    out = {}
    for key in ("coverage", "coverage_moving", "coverage_zero", "zero_no_law", "moving_law"):
        values = [(s[key], s["runs"]) for s in summaries if not math.isnan(s[key])]
        out[key] = sum(v * n for v, n in values) / max(1, sum(n for _, n in values))
    return out


def render(summaries: Sequence[dict[str, Any]]) -> str:
    rows = []
    for s in summaries:
        rows.append([
            s["problem"], str(s["runs"]), f"{s['size_median_error']:.3f}",
            f"{s['size_median_width']:.3f}", f"{s['size_coverage']:.0%}", f"{s['coverage']:.0%}",
            f"{s['coverage_moving']:.0%}", f"{s['coverage_zero']:.0%}",
            f"{s['zero_no_law']:.0%}", f"{s['moving_law']:.0%}",
        ])
    head = ["problem", "runs", "N exponent median error", "N interval median width",
            "N coverage", "coverage (all laws)", "coverage (moving)", "coverage (exponent 0)",
            "exponent 0 called no law", "moving called law"]
    detail = []
    for s in summaries:
        for parameter, p in s["parameters"].items():
            verdicts = ", ".join(f"{k} {v}" for k, v in p["verdicts"].items())
            detail.append([s["problem"], parameter, f"{p['truth']:+.4f}",
                           f"{p['median_error']:.3f}", f"{p['coverage']:.0%}", verdicts])
    return "\n".join([
        markdown_table(head, rows), "",
        markdown_table(["problem", "law", "truth", "median error", "coverage", "verdicts"],
                       detail)])


def timing(counts: Sequence[int]) -> dict[str, dict[str, float]]:
    """Seconds of one scaling_laws() on a Chinchilla-shaped study of each trial count, and of
    the point laws alone (what it cost before the intervals), best of three."""
    from carbs_optimizer import CARBS
    from tests.optimizer.conftest import fast_config
    from tests.optimizer.test_joint_scaling_laws import PARAMS, observe_study

    out = {}
    for count in counts:
        engine = CARBS(fast_config(better_direction_sign=-1), PARAMS)
        observe_study(engine, 0, count=count)
        out[str(count)] = {"with_intervals": _best_of(engine.scaling_laws, 3),
                           "point_laws_only": _best_of(partial(_point_laws, engine), 3)}
    return out


def _point_laws(engine: Any) -> None:
    from carbs_optimizer import get_pareto_groups, group_observations
    from carbs_optimizer.laws.allocation import observed_scaling_laws

    successes = engine.success_observations
    frontier = get_pareto_groups(group_observations(successes), 0.0, -1)
    observed_scaling_laws(engine.params, successes, frontier, 1)


def _best_of(call: Any, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="store_true", help="run missing seeds first")
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--problems", nargs="*")
    parser.add_argument("--timing", action="store_true",
                        help="only time scaling_laws() at 200 and 2000 trials (into the JSON)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.timing:
        found = timing(TIMING_TRIALS)
        stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        write_json(RESULTS, {**stored, "timing_seconds": found})
        print("scaling_laws() seconds by trial count:", found)
        return
    entries = [e for e in calibration_entries() if not args.problems or e.name in args.problems]
    if args.run:
        for entry in entries:
            for seed in range(args.seeds):
                ensure_run(entry, seed)
    summaries, records, seconds = [], {}, []
    for entry in entries:
        scored = []
        for seed in range(args.seeds):
            path = run_file(entry.name, seed)
            if not path.exists():
                continue
            run = run_from_dict(json.loads(path.read_text()))
            result, spent = score_run(entry, run)
            seconds.append(spent)
            scored.append(result)
            records[f"{entry.name}/{seed}"] = [s.__dict__ for s in result]
        if scored:
            summaries.append(summarise(entry.name, scored))
    path = RESULTS if not args.problems else OUT_DIR / "partial.json"
    stored = json.loads(path.read_text()) if path.exists() else {}
    write_json(path, {**stored, "summaries": summaries, "mean_over_problems": pooled(summaries),
                      "runs": records, "scaling_laws_seconds_median": median(seconds)})
    print(render(summaries))
    print(f"\nmean over problems: {pooled(summaries)}")
    print(f"scaling_laws() median {median(seconds):.2f} s over {len(seconds)} runs")


if __name__ == "__main__":
    main()
