"""Early stopping: how much compute each rule saves, and what it costs in frontier regret.

Each run is one sequential study of ``--trials`` trials with our engine (default settings,
the suite's mid-range center). A trial streams its progress points
(``benchmarks.curve_problems``); after each one but the last, ``early_stopping.rule_verdict()``
sees its curve, the engine's predicted cost of the trial and every earlier trial as a peer,
exactly as a runtime would. A stopped trial is charged the compute it used and told to the
engine through ``replay.observe_trial`` as an EarlyStopped trial record (so the engine
learns what the runtimes' engines learn), with the feedback the config names (the
runtimes' is ``replay.EARLY_STOPPED_FEEDBACK``, censored). Every run of a problem at a seed
draws the same trial noise, so configs differ only by their decisions; problems whose
trials end alike share their unstopped study (UNSTOPPED_TWINS).

Metrics per run: compute spent (the sum over trials of what each used) and Pareto regret
(``benchmarks.quality``'s, over the trials that finished: a stopped trial left no result).
The table gives medians over seeds and each rule's ratio to no stopping.

Run from the repository root (runs are cached under results/early_stopping/runs)::

    nice -n 15 .venv/bin/python -m benchmarks.early_stopping --seeds 8  # all problems
    nice -n 10 .venv/bin/python -m benchmarks.early_stopping --render   # table only
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, markdown_table, median, nan_to_none, write_json
from benchmarks.curve_problems import (
    CurveProblem,
    DigitsCurve,
    curve_problems,
    problem_by_name,
)
from benchmarks.quality import CarbsMethod, pareto_regret, regret_baseline, trial_seed
from benchmarks.quality import RunRecord as RegretRun
from benchmarks.quality import TrialRecord as RegretTrial
from carbs_operator import early_stopping as rules
from carbs_operator import trial_progress
from carbs_operator.early_stopping import CurvePoint, Peer, StopDecision, rule_verdict
from carbs_operator.models import Direction, TrialPhase
from carbs_operator.models.early_stopping import EarlyStopping, StoppingRule
from carbs_operator.replay import (
    BUDGET_SHARE_PER_TRIAL,
    EARLY_STOPPED_FEEDBACK,
    StoppedFeedback,
    observe_trial,
)
from carbs_operator.study import TrialRecord
from carbs_optimizer import SUGGESTION_ID_DICT_KEY

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = RESULTS_DIR / "early_stopping"
RUNS_DIR = OUT_DIR / "runs"
SUMMARY_PATH = RESULTS_DIR / "early_stopping.json"
#: The capped protocol (``--capped``): its runs and summary live apart from the uncapped ones.
CAPPED_RUNS_DIR = OUT_DIR / "capped"
CAPPED_SUMMARY_PATH = RESULTS_DIR / "early_stopping_capped.json"
REPLAY_SUMMARY_PATH = RESULTS_DIR / "early_stopping_replay.json"
DEFAULT_TRIALS = 40
#: A capped study ends when its spend reaches maxTotalCost (the problem's budget, as the
#: runtimes' study.rule_verdict() rules) or at this many trials, whichever comes first (a guard:
#: studies of the budgets here run 40-200).
CAPPED_MAX_TRIALS = 300
#: The regret tolerance of issue 23's target ("at most 1.10x the regret of no stopping").
REGRET_TOLERANCE = 1.10
#: A config is "<rule>/<feedback>"; "none" runs every trial to its end. "@name=value" runs
#: it with one setting or rule constant changed (VARIANT_KNOBS): how the defaults were chosen.
VARIANTS = ("frontier/censored@projected=1", "frontier/censored@projected=0",
            "frontier/censored@noise=2", "frontier/censored@cheap=1",
            "frontier/failure@slack=0", "frontier/failure@slack=1",
            "frontier/failure@margin=0.05", "frontier/failure@grace=0.15",
            "frontier/failure@quantile=0.5")
CONFIGS = ("none", "median/censored", "frontier/censored", "frontier/failure",
           "median/failure", "frontier/bound", "frontier/nothing", "median/bound",
           "median/nothing", "frontier/censored/under", "frontier/failure/under", *VARIANTS)
#: A config ending in "/under" is a stress test: the engine's predicted cost of every trial
#: is taken this much too low, so Frontier believes each trial further along than it is.
UNDER_PREDICTION = 0.7
#: Variant name -> a field of EarlyStopping, or a constant of carbs_operator.early_stopping.
VARIANT_KNOBS = {"margin": "margin", "grace": "grace_fraction", "min_trials": "min_trials",
                 "slack": "PREDICTION_SLACK", "quantile": "FRONTIER_QUANTILE",
                 "bandwidth": "FRONTIER_BANDWIDTH", "noise": "NOISE_MARGIN",
                 "adaptive": "ADAPTIVE_SLACK", "cheap": "PROTECT_CHEAPEST",
                 "projected": "PROJECTED", "gain_quantile": "PROJECTION_QUANTILE",
                 "dearest": "PROTECT_DEAREST", "gain_margin": "GAIN_MARGIN",
                 "gain_upper": "GAIN_UPPER", "stage_dearest": "STAGE_PROTECT_DEAREST"}


@dataclass
class SimTrial:
    """One trial of a simulated study, as the benchmark keeps it."""

    index: int
    params: dict[str, float]
    curve: list[tuple[int, float, float]]  # (step, observed loss, cost so far)
    loss: float  # observed result, NaN unless it finished
    true_loss: float
    spent: float
    full_cost: float | None  # what it would have cost run to its end (None if unknown)
    predicted_cost: float | None
    phase: str  # Succeeded, Failed or EarlyStopped
    reason: str | None = None
    ask_seconds: float = 0.0
    #: A stopped trial of a simulator: the true loss and cost it would have ended at.
    unstopped_true_loss: float | None = None
    unstopped_cost: float | None = None


@dataclass
class StudyRun:
    problem: str
    config: str
    seed: int
    trials: list[SimTrial] = field(default_factory=list)
    wall_seconds: float = 0.0
    engine: str = ""  # engine_version() when it ran
    #: maxTotalCost of a capped study (its trials capped at BUDGET_SHARE_PER_TRIAL of it, as
    #: the runtimes cap them); None: the uncapped protocol (a fixed number of trials).
    budget: float | None = None

    @property
    def spent(self) -> float:
        return sum(t.spent for t in self.trials)


def settings_for(config: str) -> tuple[EarlyStopping | None, StoppedFeedback,
                                       dict[str, float]]:
    """The study's earlyStopping (the model's defaults but the rule and a variant's field),
    the feedback, and the rule constants a variant changes."""
    if config == "none":
        return None, EARLY_STOPPED_FEEDBACK, {}
    base, _, variant = config.partition("@")
    rule, feedback = base.split("/")[:2]
    fields: dict[str, float] = {}
    constants: dict[str, float] = {}
    for change in variant.split("@") if variant else []:  # "@a=1@b=2": two knobs
        name, value = change.split("=")
        knob = VARIANT_KNOBS[name]
        (constants if knob.isupper() else fields)[knob] = float(value)
    settings = EarlyStopping(rule=StoppingRule(rule.capitalize()), **fields)
    return settings, StoppedFeedback(feedback), constants


def run_study(problem: CurveProblem, config: str, seed: int, n_trials: int,
              budget: float | None = None) -> StudyRun:
    """One sequential study; see the module docstring. With a `budget` the study is capped
    as a runtime caps a study with `maxTotalCost`: the engine suggests no trial predicted
    dearer than BUDGET_SHARE_PER_TRIAL of it, and no trial starts once the spend reaches
    it (up to CAPPED_MAX_TRIALS; `n_trials` is then unused)."""
    settings, feedback, constants = settings_for(config)
    saved = {name: getattr(rules, name) for name in constants}
    for name, value in constants.items():
        setattr(rules, name, value)
    try:
        return _run_study(problem, config, seed, n_trials, settings, feedback, budget)
    finally:
        for name, value in saved.items():
            setattr(rules, name, value)


def _run_study(problem: CurveProblem, config: str, seed: int, n_trials: int,
               settings: EarlyStopping | None, feedback: StoppedFeedback,
               budget: float | None = None) -> StudyRun:
    cap = None if budget is None else budget * BUDGET_SHARE_PER_TRIAL
    method = CarbsMethod(problem.specs, seed, cap)
    engine = method.engine
    run = StudyRun(problem.name, config, seed, engine=engine_version(), budget=budget)
    records: list[TrialRecord] = []
    start = time.perf_counter()
    limit = n_trials if budget is None else CAPPED_MAX_TRIALS
    for index in range(limit):
        if budget is not None and run.spent >= budget:
            break
        ask_start = time.perf_counter()
        output = engine.suggest()
        ask_seconds = time.perf_counter() - ask_start
        pending = dict(output.suggestion)
        params = {s.name: s.clip_round(float(pending[s.name])) for s in problem.specs}
        estimate = output.log.get("cost_estimate")
        predicted = float(estimate) if isinstance(estimate, int | float) else None
        if predicted is not None and "/under" in config:
            predicted *= UNDER_PREDICTION
        peers = trial_progress.peers(records, exclude=index)
        trial = _run_trial(problem, params, trial_seed(seed, index), settings, predicted, peers)
        trial.index, trial.ask_seconds = index, ask_seconds
        run.trials.append(trial)
        suggestion_id = str(pending.pop(SUGGESTION_ID_DICT_KEY))
        # As a runtime stores it (study.TrialRecord): an EarlyStopped trial's objective and
        # cost are those at the point where it was stopped.
        objective = {"Succeeded": trial.loss, "Failed": None,
                     "EarlyStopped": trial.curve[-1][1] if trial.curve else None}[trial.phase]
        record = TrialRecord(
            index=index, params=pending, phase=TrialPhase(trial.phase),
            suggestion_id=suggestion_id, objective=objective, cost=trial.spent,
            predicted_cost=predicted,
            curve=tuple(CurvePoint(step, loss, cost) for step, loss, cost in trial.curve),
        )
        records.append(record)
        observe_trial(engine, record, feedback)
    run.wall_seconds = time.perf_counter() - start
    return run


def _run_trial(problem: CurveProblem, params: dict[str, float], seed: int,
               settings: EarlyStopping | None, predicted: float | None,
               peers: Sequence[Peer]) -> SimTrial:
    """Stream one trial, asking the rule after each point but its result."""
    curve: list[CurvePoint] = []
    last = None
    decision: StopDecision | None = None
    stream = problem.run(params, seed)
    for progress in stream:
        last = progress
        if progress.failed:
            break
        curve.append(CurvePoint(progress.step, progress.loss, progress.cost))
        if settings is not None and not progress.last:
            decision = rule_verdict(settings, Direction.MINIMIZE, curve, predicted, peers)
            if decision is not None:
                break
    if last is None:
        raise RuntimeError(f"{problem.name} reported nothing for {params}")
    kept = [(p.step, p.objective, float(p.cost or 0.0)) for p in curve]
    if last.failed:
        return SimTrial(0, params, kept, math.nan, math.nan, last.cost, None, predicted,
                        "Failed")
    if decision is not None:
        stopped = SimTrial(0, params, kept, math.nan, math.nan, last.cost, None, predicted,
                           "EarlyStopped", decision.reason)
        if not isinstance(problem, DigitsCurve):  # a simulator: what stopping gave up
            end = list(stream)[-1]
            stopped.unstopped_true_loss, stopped.unstopped_cost = end.true_loss, end.cost
        return stopped
    return SimTrial(0, params, kept, last.loss, last.true_loss, last.cost, last.cost,
                    predicted, "Succeeded")


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------


#: Problems whose trials end at the same result (the Hoffmann law's loss plus the same noise
#: draw), so a study without stopping is the same study on each: it runs once, on the first
#: of them, and the others read a copy (tests/benchmarks check that their ends agree).
UNSTOPPED_TWINS = ("chinchilla-curve", "chinchilla-cosine", "powerlaw-floor", "step-decay")


def shared_unstopped(problem: str, seed: int, capped: bool = False) -> StudyRun | None:
    """A twin's cached study without stopping, renamed to `problem`; None when none ran."""
    if problem not in UNSTOPPED_TWINS:
        return None
    for twin in UNSTOPPED_TWINS:
        if twin != problem and (run := load(twin, "none", seed, capped)) is not None:
            run.problem = problem
            return run
    return None


def run_path(problem: str, config: str, seed: int, capped: bool = False) -> Path:
    name = config.replace("/", "-").replace("@", "_at_").replace("=", "_")
    return (CAPPED_RUNS_DIR if capped else RUNS_DIR) / problem / f"{name}-seed{seed}.json"


def save(run: StudyRun) -> None:
    """The run's cache file; each trial keeps only its last progress point (the summary
    reads no more, and whole curves would make the committed results megabytes)."""
    data = asdict(run)
    for trial in data["trials"]:
        trial["curve"] = trial["curve"][-1:]
    path = run_path(run.problem, run.config, run.seed, run.budget is not None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nan_to_none(data)) + "\n")


def load(problem: str, config: str, seed: int, capped: bool = False) -> StudyRun | None:
    path = run_path(problem, config, seed, capped)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    trials = []
    for t in data.pop("trials"):
        t = {k: (math.nan if v is None and k in ("loss", "true_loss") else v)
             for k, v in t.items()}
        t["curve"] = [tuple(p) for p in t["curve"]]
        trials.append(SimTrial(**t))
    return StudyRun(trials=trials, **data)


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


def regret_view(run: StudyRun) -> RegretRun:
    """The run as the regret machinery reads it: a stopped trial left no result."""
    record = RegretRun(problem=run.problem, method=run.config, seed=run.seed, budget=math.inf)
    record.trials = [
        RegretTrial(index=t.index, params=t.params, loss=t.loss, true_loss=t.true_loss,
                    cost=t.spent, failed=t.phase != "Succeeded", ask_seconds=t.ask_seconds)
        for t in run.trials
    ]
    return record


def _stopped_on_frontier(run: StudyRun) -> int:
    """Stopped trials that, run to their end, would have beaten every finished trial of the
    run that cost no more (a simulator tells us; the rules' true mistakes)."""
    done = [(t.spent, t.true_loss) for t in run.trials if t.phase == "Succeeded"]
    count = 0
    for t in run.trials:
        if t.unstopped_true_loss is None or t.unstopped_cost is None:
            continue
        cheaper = [loss for cost, loss in done if cost <= t.unstopped_cost]
        count += t.unstopped_true_loss < min(cheaper, default=math.inf)
    return count


def audit(problem: CurveProblem, run: StudyRun) -> bool:
    """Finish every stopped trial that has no recorded end (real training: the runs do not
    spend benchmark time on it), from the start with its own seed, so the summary can count
    the stops that were mistakes. True when something was added."""
    added = False
    for t in run.trials:
        if t.phase != "EarlyStopped" or t.unstopped_true_loss is not None:
            continue
        end = list(problem.run(t.params, trial_seed(run.seed, t.index)))[-1]
        if not end.failed:
            t.unstopped_true_loss, t.unstopped_cost = end.true_loss, end.cost
            added = True
    return added


def seed_to_seed(items: Sequence[dict[str, Any]]) -> dict[str, float]:
    """How far apart two unstopped studies of different seeds are, as the typical (median
    over ordered pairs) factor between their regrets and between their spends: the noise a
    paired ratio of one seed is read against, since one stop sends a study down another path
    as much as another seed does."""
    def factor(key: str) -> float:
        values = [float(i[key]) for i in items if float(i[key]) > 0]
        logs = [abs(math.log(a / b)) for k, a in enumerate(values) for b in values[k + 1:]]
        return math.exp(median(logs)) if logs else math.nan
    return {"regret_factor": factor("regret"), "spent_factor": factor("spent")}


def summarise(problem: CurveProblem, runs: Sequence[StudyRun]) -> dict[str, Any]:
    views = [regret_view(r) for r in runs]
    best, kind, levels = regret_baseline(problem, views, problem.budget)  # type: ignore[arg-type]
    per_config: dict[str, Any] = {}
    for config in CONFIGS:
        mine = [(r, v) for r, v in zip(runs, views, strict=True) if r.config == config]
        if not mine:
            continue
        items = []
        for run, view in mine:
            regret, _, empty = pareto_regret(view.trials, levels, best, problem.uninformed_loss)
            items.append({
                "seed": run.seed, "trials": len(run.trials), "spent": run.spent,
                "regret": regret, "empty_levels": empty,
                "stopped": sum(t.phase == "EarlyStopped" for t in run.trials),
                "stopped_on_frontier": _stopped_on_frontier(run),
                "final_best": min((t.true_loss for t in run.trials if t.phase == "Succeeded"),
                                  default=math.nan),
                "dearest_finished": max((t.spent for t in run.trials
                                         if t.phase == "Succeeded"), default=math.nan),
                "failed": sum(t.phase == "Failed" for t in run.trials),
                "wall_seconds": run.wall_seconds,
            })
        per_config[config] = {
            "seeds": len(items), "runs": items,
            **{f"median_{k}": median([float(i[k]) for i in items])
               for k in ("spent", "regret", "stopped", "stopped_on_frontier", "final_best",
                         "dearest_finished")},
        }
    none = per_config.get("none")
    if none is not None:
        none["seed_to_seed"] = seed_to_seed(none["runs"])
        by_seed = {i["seed"]: i for i in none["runs"]}
        for stats in per_config.values():
            # Against no stopping on the same seeds (a variant may have run fewer).
            same = [by_seed[i["seed"]] for i in stats["runs"] if i["seed"] in by_seed]
            base_spent = median([i["spent"] for i in same])
            stats["compute_saved"] = 1.0 - stats["median_spent"] / base_spent
            stats["regret_ratio"] = stats["median_regret"] / median([i["regret"] for i in same])
            paired = [i["spent"] / by_seed[i["seed"]]["spent"] for i in stats["runs"]
                      if i["seed"] in by_seed]
            stats["median_paired_spent_ratio"] = median(paired)
            stats["median_paired_regret_ratio"] = median(
                [i["regret"] / by_seed[i["seed"]]["regret"] for i in stats["runs"]
                 if i["seed"] in by_seed and by_seed[i["seed"]]["regret"] > 0])
    return {"problem": problem.name, "regret_baseline": kind, "levels": levels,
            "configs": per_config}


# --------------------------------------------------------------------------------------------
# The capped protocol's summary: regret at equal compute, compute at equal regret
# --------------------------------------------------------------------------------------------


Trajectory = list[tuple[float, float]]


def trajectory(view: RegretRun, levels: Sequence[float], best: Any,
               uninformed: float) -> Trajectory:
    """(compute spent, Pareto regret of the trials finished by then), from nothing spent to
    after each trial: the study's regret as its compute grows."""
    points = [(0.0, pareto_regret([], levels, best, uninformed)[0])]
    spent = 0.0
    for i, trial in enumerate(view.trials):
        spent += trial.cost
        points.append((spent, pareto_regret(view.trials[:i + 1], levels, best, uninformed)[0]))
    return points


def regret_at(points: Trajectory, compute: float) -> float:
    """The regret once `compute` was spent (the last point at or under it)."""
    return min((r for c, r in points if c <= compute * (1 + 1e-12)), default=points[0][1])


def compute_to_reach(points: Trajectory, target: float) -> float | None:
    """The compute the study spent until its regret was at most `target`; None if never."""
    for compute, regret in points:
        if regret <= target * (1 + 1e-9) + 1e-12:
            return compute
    return None


def _saved(mine: float | None, reference: float | None) -> float:
    """1 - mine / reference; -inf when this study never got there (its compute ran out)."""
    if mine is None:
        return -math.inf
    if reference is None or reference <= 0:
        return math.nan
    return 1.0 - mine / reference


def summarise_capped(problem: CurveProblem, runs: Sequence[StudyRun]) -> dict[str, Any]:
    """Per config and seed, paired with the unstopped study of the same seed:

    - regret ratio at equal compute: the study's regret at the compute the unstopped study
      spent in all, over the unstopped study's final regret;
    - saved at equal regret: 1 - the compute this study needed to reach R over what the
      unstopped one needed, R the worse of the two final regrets (both reached it; a study
      identical to the unstopped one scores 0);
    - saved at the tolerance (the issue's target): 1 - the compute this study needed to
      come within REGRET_TOLERANCE of the unstopped study's final regret R0, over what the
      unstopped one needed to reach R0 (for "none" itself: what the tolerance alone gives);
    - reached: whether it reached R0 within its budget, and the brief's measure, 1 - the
      compute it needed for R0 over the unstopped study's whole spend.
    Medians over seeds of these paired values; -inf (never reached) sorts lowest.
    """
    views = [regret_view(r) for r in runs]
    best, kind, levels = regret_baseline(problem, views, problem.budget)  # type: ignore[arg-type]
    paths = {(r.config, r.seed): trajectory(v, levels, best, problem.uninformed_loss)
             for r, v in zip(runs, views, strict=True)}
    per_config: dict[str, Any] = {}
    for config in CONFIGS:
        items = []
        for run in (r for r in runs if r.config == config):
            base_run = next((r for r in runs if r.config == "none" and r.seed == run.seed),
                            None)
            if base_run is None:
                continue
            mine, base = paths[(config, run.seed)], paths[("none", run.seed)]
            final, base_final = mine[-1][1], base[-1][1]
            worse = max(final, base_final)
            base_reach = compute_to_reach(base, base_final)
            items.append({
                "seed": run.seed, "trials": len(run.trials), "spent": run.spent,
                "regret": final,
                "regret_at_equal_compute": regret_at(mine, base_run.spent),
                "regret_ratio": (regret_at(mine, base_run.spent) / base_final
                                 if base_final > 0 else math.nan),
                "saved_at_equal_regret": _saved(compute_to_reach(mine, worse),
                                                compute_to_reach(base, worse)),
                "saved_at_tolerance": _saved(
                    compute_to_reach(mine, REGRET_TOLERANCE * base_final), base_reach),
                "reached_unstopped_regret": compute_to_reach(mine, base_final) is not None,
                "saved_vs_unstopped_spend": _saved(compute_to_reach(mine, base_final),
                                                   base_run.spent),
                "stopped": sum(t.phase == "EarlyStopped" for t in run.trials),
                "failed": sum(t.phase == "Failed" for t in run.trials),
                "dearest_finished": max((t.spent for t in run.trials
                                         if t.phase == "Succeeded"), default=math.nan),
                "final_best": min((t.true_loss for t in run.trials if t.phase == "Succeeded"),
                                  default=math.nan),
                "wall_seconds": run.wall_seconds,
            })
        if not items:
            continue
        per_config[config] = {
            "seeds": len(items), "runs": items,
            "reached": sum(i["reached_unstopped_regret"] for i in items),
            **{f"median_{k}": median([float(i[k]) for i in items])
               for k in ("trials", "spent", "regret", "regret_ratio", "saved_at_equal_regret",
                         "saved_at_tolerance", "saved_vs_unstopped_spend", "stopped",
                         "dearest_finished", "final_best")},
        }
    if "none" in per_config:
        per_config["none"]["seed_to_seed"] = seed_to_seed(per_config["none"]["runs"])
    return {"problem": problem.name, "regret_baseline": kind, "levels": levels,
            "budget": problem.budget,
            "max_suggestion_cost": problem.budget * BUDGET_SHARE_PER_TRIAL,
            "configs": per_config}


def _percent(value: float) -> str:
    if math.isnan(value):
        return "—"
    return "not reached" if value == -math.inf else f"{value:+.0%}"


def render_capped(summaries: Sequence[dict[str, Any]]) -> str:
    header = ["problem", "config", "seeds", "trials", "stopped trials", "regret",
              "regret ratio at equal compute", "saved at equal regret",
              "saved at ≤1.10× regret", "reached unstopped regret", "dearest finished trial"]
    rows = []
    for s in summaries:
        for config, st in s["configs"].items():
            unstopped = config == "none"
            rows.append([
                s["problem"], config, str(st["seeds"]), f"{st['median_trials']:.0f}",
                f"{st['median_stopped']:.0f}", f"{st['median_regret']:.4f}",
                "—" if unstopped else f"{st['median_regret_ratio']:.2f}",
                "—" if unstopped else _percent(st["median_saved_at_equal_regret"]),
                ("(" + _percent(st["median_saved_at_tolerance"]) + ")" if unstopped
                 else _percent(st["median_saved_at_tolerance"])),
                f"{st['reached']}/{st['seeds']}",
                f"{st['median_dearest_finished']:.3g}",
            ])
    return markdown_table(header, rows) + (
        "\n\nCapped studies (maxTotalCost = the problem's budget, trials capped at "
        f"{BUDGET_SHARE_PER_TRIAL:g} of it). Every ratio is paired: each seed against its own "
        "unstopped study, then the median over seeds. In parentheses, what the tolerance "
        "alone gives the unstopped study against itself.")


# --------------------------------------------------------------------------------------------
# The rule alone: its decisions replayed on the unstopped studies
# --------------------------------------------------------------------------------------------


def replay_rule(problem: CurveProblem, run: StudyRun, config: str) -> dict[str, Any]:
    """The config's rule decides on the unstopped study's own trials, in their order, as a
    runtime would have (peers: the earlier trials, a stopped one as stopped), but the engine
    is not told: the trials stay those of `run`. What the rule saved (the unspent rest of the
    trials it stopped) against what it cost (the study's regret without their results) is
    then its decisions' doing alone, with none of the divergence one stop sets off in the
    engine (as large as another seed's: `seed_to_seed`). A simulator's curves are drawn
    again from the trial's seed, so they are the ones the study saw."""
    settings, _, constants = settings_for(config)
    saved_constants = {name: getattr(rules, name) for name in constants}
    for name, value in constants.items():
        setattr(rules, name, value)
    try:
        records: list[TrialRecord] = []
        kept: list[SimTrial] = []
        for t in run.trials:
            curve: list[CurvePoint] = []
            decision: StopDecision | None = None
            peers = trial_progress.peers(records, exclude=t.index)
            for progress in problem.run(t.params, trial_seed(run.seed, t.index)):
                if progress.failed:
                    break
                curve.append(CurvePoint(progress.step, progress.loss, progress.cost))
                if settings is not None and not progress.last:
                    decision = rule_verdict(settings, Direction.MINIMIZE, curve, t.predicted_cost,
                                      peers)
                    if decision is not None:
                        break
            phase = "EarlyStopped" if decision is not None else t.phase
            spent = float(curve[-1].cost or 0.0) if decision is not None else t.spent
            records.append(TrialRecord(
                index=t.index, params={}, phase=TrialPhase(phase), suggestion_id=None,
                objective=(curve[-1].objective if decision is not None and curve
                           else None if phase != "Succeeded" else t.loss),
                cost=spent, predicted_cost=t.predicted_cost, curve=tuple(curve)))
            kept.append(SimTrial(t.index, t.params, [], math.nan if decision else t.loss,
                                 math.nan if decision else t.true_loss, spent, t.full_cost,
                                 t.predicted_cost, phase))
    finally:
        for name, value in saved_constants.items():
            setattr(rules, name, value)
    replayed = StudyRun(run.problem, config, run.seed, trials=kept, budget=run.budget)
    return {"config": config, "seed": run.seed, "run": replayed,
            "stopped": sum(t.phase == "EarlyStopped" for t in kept),
            "saved": 1.0 - replayed.spent / run.spent if run.spent > 0 else math.nan}


def summarise_replay(problem: CurveProblem, runs: Sequence[StudyRun],
                     configs: Sequence[str]) -> dict[str, Any]:
    """Per config, over the unstopped studies `runs`: the compute its decisions saved and the
    regret ratio they cost, paired per seed (medians; and the worst seed's regret ratio)."""
    replays = [replay_rule(problem, run, config) for config in configs for run in runs]
    views = [regret_view(r) for r in runs] + [regret_view(x["run"]) for x in replays]
    best, _, levels = regret_baseline(problem, views, problem.budget)  # type: ignore[arg-type]

    def regret(run: StudyRun) -> float:
        return pareto_regret(regret_view(run).trials, levels, best, problem.uninformed_loss)[0]

    base = {run.seed: regret(run) for run in runs}
    per_config: dict[str, Any] = {}
    for config in configs:
        items = []
        for x in (x for x in replays if x["config"] == config):
            r = regret(x["run"])
            items.append({"seed": x["seed"], "stopped": x["stopped"], "saved": x["saved"],
                          "regret": r, "regret_ratio": r / base[x["seed"]]
                          if base[x["seed"]] > 0 else math.nan})
        per_config[config] = {
            "seeds": len(items), "runs": items,
            "median_saved": median([i["saved"] for i in items]),
            "median_regret_ratio": median([i["regret_ratio"] for i in items]),
            "worst_regret_ratio": max((i["regret_ratio"] for i in items), default=math.nan),
            "median_stopped": median([float(i["stopped"]) for i in items]),
        }
    return {"problem": problem.name, "protocol": "capped" if runs and runs[0].budget else
            "uncapped", "trials": median([float(len(r.trials)) for r in runs]),
            "configs": per_config}


def render_replay(summaries: Sequence[dict[str, Any]]) -> str:
    header = ["problem", "studies", "config", "seeds", "stopped trials", "compute saved",
              "regret ratio", "worst seed's regret ratio"]
    rows = [[s["problem"], s["protocol"], config, str(st["seeds"]),
             f"{st['median_stopped']:.0f}", f"{st['median_saved']:+.0%}",
             f"{st['median_regret_ratio']:.2f}", f"{st['worst_regret_ratio']:.2f}"]
            for s in summaries for config, st in s["configs"].items()]
    return markdown_table(header, rows) + (
        "\n\nEach rule's decisions replayed on the unstopped studies' own trials (the engine "
        "not told): medians over seeds of each seed's saving and regret ratio.")


def engine_version() -> str:
    """The commit the engine came from, and whether optimizer/ had uncommitted changes (the
    numbers move with the engine: rerun with --fresh after it changes)."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=False)
        return done.stdout.strip()

    dirty = bool(git("status", "--porcelain", "--", "optimizer"))
    return git("rev-parse", "--short", "HEAD") + (" + uncommitted optimizer/" if dirty else "")


def render(summaries: Sequence[dict[str, Any]]) -> str:
    header = ["problem", "config", "seeds", "compute spent", "saved vs none",
              "saved, paired", "regret", "regret ratio", "regret ratio, paired",
              "stopped trials", "mistaken stops", "dearest finished trial", "best loss found"]
    rows = []
    for s in summaries:
        for config, st in s["configs"].items():
            unstopped = config == "none"
            rows.append([
                s["problem"], config, str(st["seeds"]), f"{st['median_spent']:.3g}",
                f"{st.get('compute_saved', math.nan):+.0%}" if not unstopped else "—",
                f"{1 - st.get('median_paired_spent_ratio', math.nan):+.0%}"
                if not unstopped else "—",
                f"{st['median_regret']:.4f}",
                f"{st.get('regret_ratio', math.nan):.2f}" if not unstopped else "—",
                f"{st.get('median_paired_regret_ratio', math.nan):.2f}"
                if not unstopped else "—",
                f"{st['median_stopped']:.0f}", f"{st['median_stopped_on_frontier']:.0f}",
                f"{st['median_dearest_finished']:.3g}",
                f"{st['median_final_best']:.4f}",
            ])
    return markdown_table(header, rows) + (
        "\n\nMedians over seeds; 'saved vs none' and 'regret ratio' are ratios of medians, "
        "against no stopping on the same seeds; 'paired' are medians over seeds of each "
        "seed's ratio to its own unstopped study."
        "\nMistaken stops: stopped trials that, run to their end, would have beaten every "
        "finished trial of the run that cost no more (digits: after --audit).")


def _config(config: str) -> str:
    """A config the benchmark can run (argparse's check)."""
    try:
        settings_for(config)
    except (KeyError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"unknown config {config!r}: {error}") from error
    return config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Early-stopping benchmark.")
    names = [p.name for p in curve_problems()]
    parser.add_argument("--problems", nargs="+", default=names, choices=names)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS[:3]), type=_config,
                        help="none, <rule>/<feedback>[/under][@knob=value...] (knobs: "
                        + ", ".join(VARIANT_KNOBS) + "); the tables list CONFIGS")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--only-seeds", type=int, nargs="+", default=None,
                        help="run these seeds only (of --seeds); the summary reads every "
                        "cached seed")
    parser.add_argument("--no-summary", action="store_true",
                        help="run, but write no summary (parallel workers)")
    parser.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    parser.add_argument("--fresh", action="store_true", help="re-run cached runs")
    parser.add_argument("--render", action="store_true", help="summarise the cache only")
    parser.add_argument("--capped", action="store_true",
                        help="capped studies: maxTotalCost = the problem's budget, trials "
                        "capped at its per-trial share; results in early_stopping_capped.json")
    parser.add_argument("--replay", action="store_true",
                        help="replay each config's rule on the cached unstopped studies "
                        "(uncapped, and capped where cached); early_stopping_replay.json")
    parser.add_argument("--audit", action="store_true",
                        help="finish the cached runs' stopped trials of real training, to "
                        "count mistaken stops")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    capped = args.capped
    if args.replay:
        summaries = []
        configs = [c for c in args.configs if c != "none"]
        for name in args.problems:
            problem = problem_by_name(name)
            for is_capped in (False, True):
                unstopped = [r for s in range(10)
                             if (r := load(name, "none", s, is_capped)
                                 or shared_unstopped(name, s, is_capped)) is not None]
                if unstopped:
                    summaries.append(summarise_replay(problem, unstopped, configs))
                    print(render_replay(summaries[-1:]), file=sys.stderr, flush=True)
        write_json(REPLAY_SUMMARY_PATH, {"configs": configs, "summaries": summaries})
        print(render_replay(summaries))
        return
    if not args.render:
        seeds = args.only_seeds if args.only_seeds is not None else range(args.seeds)
        for name in args.problems:
            problem = problem_by_name(name)
            budget = problem.budget if capped else None
            for seed in seeds:
                for config in args.configs:
                    if not args.fresh and run_path(name, config, seed, capped).exists():
                        continue
                    twin = (shared_unstopped(name, seed, capped) if config == "none"
                            else None)
                    run = twin or run_study(problem, config, seed, args.trials, budget)
                    save(run)
                    print(f"  {name} {config} seed={seed} trials={len(run.trials)} "
                          f"spent={run.spent:.3g} "
                          f"stopped={sum(t.phase == 'EarlyStopped' for t in run.trials)} "
                          f"wall={run.wall_seconds:.0f}s", file=sys.stderr, flush=True)
    if args.no_summary:
        return
    if capped:
        summaries = []
        for name in args.problems:
            runs = [r for c in CONFIGS for s in range(10)
                    if (r := load(name, c, s, capped=True) or (
                        shared_unstopped(name, s, True) if c == "none" else None)) is not None]
            if runs:
                summaries.append(summarise_capped(problem_by_name(name), runs))
        engines = sorted({r.engine for name in args.problems for c in CONFIGS
                          for s in range(10) if (r := load(name, c, s, True)) is not None})
        write_json(CAPPED_SUMMARY_PATH, {
            "protocol": "capped", "budget_share_per_trial": BUDGET_SHARE_PER_TRIAL,
            "max_trials": CAPPED_MAX_TRIALS, "regret_tolerance": REGRET_TOLERANCE,
            "engines": engines, "summaries": summaries})
        print(render_capped(summaries))
        return
    if args.audit:
        for name in args.problems:
            for config in args.configs:
                for seed in range(args.seeds):
                    cached = load(name, config, seed)
                    if cached is not None and audit(problem_by_name(name), cached):
                        save(cached)
    summaries = []
    for name in args.problems:
        runs = [r for c in CONFIGS for s in range(10) if (r := load(name, c, s)) is not None]
        if runs:
            summaries.append(summarise(problem_by_name(name), runs))
    engines = sorted({r.engine for name in args.problems for c in CONFIGS for s in range(10)
                      if (r := load(name, c, s)) is not None})
    write_json(SUMMARY_PATH, {"trials_per_run": args.trials, "engines": engines,
                              "summaries": summaries})
    print(render(summaries))


if __name__ == "__main__":
    main()
