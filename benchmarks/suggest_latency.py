"""Suggest latency: how long one suggestion takes with n observations in d dimensions.

For each cell (n observations × d parameters) the same n random points (a synthetic
objective and cost) are given to every method, then one suggestion of all d parameters is
timed repeatedly with n held fixed:

- ours: ``CARBS.suggest()`` then ``forget_suggestion()`` (untimed), default settings except
  ``resample_frequency=0`` (a resample step returns an old input without any model work and
  would time nothing); the first suggestion at a fixed n fits the GPs cold, later ones are
  warm-started, so both are reported.
- Optuna GPSampler and TPESampler: ``study.ask(distributions)`` (samples every parameter),
  then the trial is told FAIL (untimed), so it never becomes data or a pending point.
- reference-equivalent: our engine configured to train its GPs like the reference (1000
  Adam steps at lr 1e-4 per GP, cold every time, no training-set cap); only where
  affordable.

``observe``/``tell`` is timed on 5 extra points after the suggest timings.

Run from the repository root::

    .venv/bin/python -m benchmarks.suggest_latency          # full grid (~10 minutes, 2 cores)
    .venv/bin/python -m benchmarks.suggest_latency --quick  # smoke run (seconds)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.common import (
    RESULTS_DIR,
    ParamSpec,
    carbs_params,
    engine_available,
    fmt_ratio,
    fmt_seconds,
    machine_description,
    markdown_table,
    median,
    optuna_distributions,
    package_versions,
    sample_point,
    timed,
    write_json,
)

FULL_NS = (10, 100, 300, 1000)
FULL_DS = (3, 8, 16)
#: Cells where the reference-equivalent configuration runs (it takes seconds per suggest).
REFERENCE_EQUIVALENT_CELLS = {(10, 3), (100, 3), (10, 8), (100, 8)}
#: The reference implementation's suggest times measured earlier on this machine (it cannot
#: be installed here now: it needs wandb and pyro and is not on PyPI). d=3: 8-14 s over
#: n = 10..100 (ratios use the low end, 8 s, to be conservative); d=8, n=100: 11.8 s.
REFERENCE_MEASURED_SECONDS = {(10, 3): 8.0, (100, 3): 8.0, (100, 8): 11.8}
#: Optuna GPSampler at n=100, d=8 measured in that earlier session, for context.
OPTUNA_GP_EARLIER_SECONDS = {(100, 8): 0.25}
METHODS = ("ours", "optuna_gp", "optuna_tpe", "reference_equivalent")


def synthetic_space(d: int) -> list[ParamSpec]:
    """A d-parameter space cycling through the kinds a real study has: a log learning
    rate, a rounded log integer width, a linear fraction and a logit probability."""
    templates = [
        ParamSpec("lr", "log", 1e-5, 1.0, 3e-3),
        ParamSpec("width", "log", 8, 1024, 64, is_integer=True, rounding_factor=8),
        ParamSpec("dropout", "linear", 0.0, 0.8, 0.2),
        ParamSpec("beta2", "logit", 0.5, 0.9999, 0.95),
    ]
    specs = []
    for i in range(d):
        t = templates[i % len(templates)]
        name = t.name if i < len(templates) else f"{t.name}_{i // len(templates)}"
        specs.append(
            ParamSpec(name, t.kind, t.min, t.max, t.center, t.is_integer, t.rounding_factor)
        )
    return specs


@dataclass(frozen=True)
class SyntheticPoint:
    """A random observation: parameter values, objective, cost."""

    params: dict[str, float]
    output: float
    cost: float


def synthetic_points(specs: Sequence[ParamSpec], n: int, seed: int) -> list[SyntheticPoint]:
    """n uniform points with a smooth objective (a bowl in normalised basic coordinates,
    plus noise) and a cost growing with the first two coordinates (like width × steps)."""
    rng = np.random.default_rng(seed)
    lows = np.array([s.to_basic(s.min) for s in specs])
    highs = np.array([s.to_basic(s.max) for s in specs])
    optimum = rng.uniform(0.2, 0.8, size=len(specs))
    weights = rng.uniform(0.5, 2.0, size=len(specs))
    points = []
    for _ in range(n):
        params = sample_point(specs, rng)
        u = (np.array([s.to_basic(params[s.name]) for s in specs]) - lows) / (highs - lows)
        output = float(np.sum(weights * (u - optimum) ** 2) + rng.normal(0.0, 0.01))
        cost = float(1e9 * 10 ** (2.0 * u[0] + (2.0 * u[1] if len(u) > 1 else 0.0)))
        points.append(SyntheticPoint(params, output, cost))
    return points


@dataclass
class MethodTiming:
    """Timings of one method in one cell (seconds)."""

    suggest_first: float = math.nan
    suggest_samples: list[float] = field(default_factory=list)
    observe_samples: list[float] = field(default_factory=list)
    setup_seconds: float = math.nan
    error: str | None = None

    @property
    def suggest_median(self) -> float:
        """Median of the repeated (warm) suggestions."""
        return median(self.suggest_samples)

    @property
    def observe_median(self) -> float:
        """Median observe/tell time."""
        return median(self.observe_samples)


class Subject:
    """One method under test in one cell: built on the cell's points, then asked to suggest
    (timed) and to learn extra points (timed)."""

    def suggest_once(self) -> float:
        """One suggestion with n held fixed; returns its seconds."""
        raise NotImplementedError

    def observe_once(self, point: SyntheticPoint) -> float:
        """Learn one more point; returns its seconds."""
        raise NotImplementedError


class CarbsSubject(Subject):
    """Our engine (or its reference-equivalent configuration)."""

    def __init__(
        self, specs: Sequence[ParamSpec], points: Sequence[SyntheticPoint], reference: bool
    ) -> None:
        from carbs_optimizer import CARBS, CARBSParams, ObservationInParam

        self._observation = ObservationInParam
        config_kwargs: dict[str, Any] = {
            "better_direction_sign": -1,
            "seed": 0,
            "device": "cpu",
            "resample_frequency": 0,
        }
        if reference:
            config_kwargs.update(
                gp_fit_iterations=1000,
                gp_learning_rate=1e-4,
                is_gp_warm_started=False,
                max_gp_training_points=100_000,
            )
        self.engine = CARBS(CARBSParams(**config_kwargs), carbs_params(specs))
        for p in points:
            self.engine.observe(self._as_observation(p))

    def _as_observation(self, p: SyntheticPoint) -> Any:
        return self._observation(input=dict(p.params), output=p.output, cost=p.cost)

    def suggest_once(self) -> float:
        """``suggest()``, then ``forget_suggestion()`` (untimed) so n stays fixed."""
        seconds, out = timed(self.engine.suggest)
        self.engine.forget_suggestion(out.suggestion)
        return seconds

    def observe_once(self, point: SyntheticPoint) -> float:
        """``observe()`` one point."""
        return timed(partial(self.engine.observe, self._as_observation(point)))[0]


class OptunaSubject(Subject):
    """Optuna's GPSampler or TPESampler, given the same points via ``add_trial``."""

    def __init__(
        self, specs: Sequence[ParamSpec], points: Sequence[SyntheticPoint], sampler_name: str
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._distributions = optuna_distributions(specs)
        self._integer = {s.name for s in specs if s.is_integer}
        sampler: optuna.samplers.BaseSampler
        if sampler_name == "gp":
            sampler = optuna.samplers.GPSampler(seed=0)
        else:
            sampler = optuna.samplers.TPESampler(seed=0)
        self.study = optuna.create_study(direction="minimize", sampler=sampler)
        for p in points:
            params = {k: int(v) if k in self._integer else v for k, v in p.params.items()}
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=params, distributions=self._distributions, value=p.output
                )
            )

    def suggest_once(self) -> float:
        """``study.ask(distributions)`` (samples every parameter), then tell FAIL (untimed):
        a failed trial is neither data nor a pending point for either sampler."""
        seconds, trial = timed(partial(self.study.ask, self._distributions))
        self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)
        return seconds

    def observe_once(self, point: SyntheticPoint) -> float:
        """``study.tell(trial, value)`` on a freshly asked trial."""
        trial = self.study.ask(self._distributions)
        return timed(partial(self.study.tell, trial, point.output))[0]


@dataclass
class Cell:
    """All methods' timings at one (n, d)."""

    n: int
    d: int
    timings: dict[str, MethodTiming] = field(default_factory=dict)
    load_average_before: float = math.nan
    wall_seconds: float = math.nan


def _build(
    name: str, specs: Sequence[ParamSpec], points: Sequence[SyntheticPoint]
) -> tuple[Subject | None, MethodTiming]:
    """Build one subject, recording its setup time or its error."""
    timing = MethodTiming()
    start = time.perf_counter()
    subject: Subject | None = None
    try:
        if name == "ours":
            subject = CarbsSubject(specs, points, reference=False)
        elif name == "reference_equivalent":
            subject = CarbsSubject(specs, points, reference=True)
        elif name == "optuna_gp":
            subject = OptunaSubject(specs, points, "gp")
        else:
            subject = OptunaSubject(specs, points, "tpe")
    except Exception as exc:  # reported in the table, never hides other methods' numbers
        timing.error = f"{type(exc).__name__}: {exc}"
    timing.setup_seconds = time.perf_counter() - start
    return subject, timing


def _measure(
    subjects: dict[str, Subject],
    timings: dict[str, MethodTiming],
    repeats: int,
    time_cap: float,
    extra: Sequence[SyntheticPoint],
    cold_counts: bool,
) -> None:
    """Time the subjects round-robin, so drifting load on a shared machine hits every
    method alike: one cold suggestion each, then up to ``repeats`` rounds (a method stops
    early once it has spent ``time_cap`` seconds, after at least one timed repeat), then
    the observes. With ``cold_counts`` the first suggestion is also a sample (for the
    reference-equivalent configuration every suggestion is a cold fit)."""
    active = dict(subjects)

    def guarded(name: str, fn: Callable[[], float]) -> float | None:
        try:
            return fn()
        except Exception as exc:  # recorded; the method drops out of the cell
            timings[name].error = f"{type(exc).__name__}: {exc}"
            active.pop(name, None)
            return None

    for name, subject in list(active.items()):
        seconds = guarded(name, subject.suggest_once)
        if seconds is not None:
            timings[name].suggest_first = seconds
            if cold_counts:
                timings[name].suggest_samples.append(seconds)
    spent = dict.fromkeys(active, 0.0)
    for _ in range(repeats):
        for name, subject in list(active.items()):
            if len(timings[name].suggest_samples) >= repeats or (
                timings[name].suggest_samples and spent[name] > time_cap
            ):
                continue
            seconds = guarded(name, subject.suggest_once)
            if seconds is not None:
                timings[name].suggest_samples.append(seconds)
                spent[name] += seconds
    for point in extra:
        for name, subject in list(active.items()):
            seconds = guarded(name, partial(subject.observe_once, point))
            if seconds is not None:
                timings[name].observe_samples.append(seconds)


def run_cell(n: int, d: int, repeats: int, time_cap: float, methods: Sequence[str]) -> Cell:
    """Time every method at (n, d) on the same points."""
    specs = synthetic_space(d)
    points = synthetic_points(specs, n + 5, seed=1000 * d + n)
    base, extra = points[:n], points[n:]
    cell = Cell(n, d, load_average_before=os.getloadavg()[0])
    start = time.perf_counter()
    fast = [m for m in methods if m != "reference_equivalent"]
    subjects: dict[str, Subject] = {}
    for name in fast:
        subject, cell.timings[name] = _build(name, specs, base)
        if subject is not None:
            subjects[name] = subject
    _measure(subjects, cell.timings, repeats, time_cap, extra, cold_counts=False)
    if "reference_equivalent" in methods and (n, d) in REFERENCE_EQUIVALENT_CELLS:
        name = "reference_equivalent"
        subject, cell.timings[name] = _build(name, specs, base)
        if subject is not None:
            # Every reference-equivalent suggestion is a cold 1000-step fit (seconds each, little
            # spread): 2 samples at n=10, 1 at n=100 keep the full run near 10 minutes.
            samples = min(repeats, 2 if n <= 10 else 1)
            _measure({name: subject}, cell.timings, samples, time_cap, extra[:2], True)
    cell.wall_seconds = time.perf_counter() - start
    return cell


def _warm_up(methods: Sequence[str]) -> None:
    """One untimed throwaway cell, so one-time process costs (lazy imports, first autograd
    graph, allocator growth) are not charged to the first timed cell's cold suggestion."""
    specs = synthetic_space(3)
    points = synthetic_points(specs, 12, seed=7)
    for name in methods:
        if name == "reference_equivalent":
            continue
        subject, _ = _build(name, specs, points)
        if subject is not None:
            subject.suggest_once()
            subject.observe_once(points[-1])


def ratio(slow: float, fast: float) -> float:
    """How many times faster ``fast`` is than ``slow`` (NaN if either is missing)."""
    if not (math.isfinite(slow) and math.isfinite(fast)) or fast <= 0:
        return math.nan
    return slow / fast


def render_tables(cells: Sequence[Cell]) -> str:
    """The latency table and the ratio table, as markdown."""

    def med(cell: Cell, method: str) -> float:
        timing = cell.timings.get(method)
        return timing.suggest_median if timing is not None else math.nan

    def first(cell: Cell, method: str) -> float:
        timing = cell.timings.get(method)
        return timing.suggest_first if timing is not None else math.nan

    def obs(cell: Cell, method: str) -> float:
        timing = cell.timings.get(method)
        return timing.observe_median if timing is not None else math.nan

    rows = []
    for c in cells:
        reps = len(c.timings["ours"].suggest_samples) if "ours" in c.timings else 0
        rows.append(
            [
                str(c.n),
                str(c.d),
                fmt_seconds(med(c, "ours")),
                fmt_seconds(first(c, "ours")),
                fmt_seconds(med(c, "optuna_gp")),
                fmt_seconds(med(c, "optuna_tpe")),
                fmt_seconds(med(c, "reference_equivalent")),
                fmt_seconds(obs(c, "ours")),
                fmt_seconds(obs(c, "optuna_gp")),
                str(reps),
            ]
        )
    latency = markdown_table(
        [
            "n",
            "d",
            "ours suggest (median)",
            "ours first (cold)",
            "Optuna GP ask",
            "Optuna TPE ask",
            "reference-equiv.",
            "ours observe",
            "Optuna GP tell",
            "repeats (ours)",
        ],
        rows,
    )
    ratio_rows = []
    for c in cells:
        ours = med(c, "ours")
        measured = REFERENCE_MEASURED_SECONDS.get((c.n, c.d), math.nan)
        ratio_rows.append(
            [
                str(c.n),
                str(c.d),
                fmt_ratio(ratio(med(c, "optuna_gp"), ours)),
                fmt_ratio(ratio(med(c, "optuna_tpe"), ours)),
                fmt_ratio(ratio(med(c, "reference_equivalent"), ours)),
                fmt_ratio(ratio(measured, ours)),
                fmt_ratio(ratio(med(c, "optuna_gp"), first(c, "ours"))),
            ]
        )
    ratios = markdown_table(
        [
            "n",
            "d",
            "Optuna GP / ours",
            "Optuna TPE / ours",
            "reference-equiv. / ours",
            "reference measured / ours",
            "Optuna GP / ours cold",
        ],
        ratio_rows,
    )
    errors = [
        f"- n={c.n}, d={c.d}, {method}: {t.error}"
        for c in cells
        for method, t in c.timings.items()
        if t.error
    ]
    parts = ["Median seconds per suggestion (one sample of all d parameters):", "", latency]
    parts += ["", "Speed-up of ours (how many times faster; > 1 means ours is faster):", ""]
    parts += [ratios]
    if errors:
        parts += ["", "Errors:", *errors]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    """Parse flags, time the grid, write JSON, print the tables."""
    parser = argparse.ArgumentParser(description="Suggest-latency benchmark.")
    parser.add_argument("--quick", action="store_true", help="smoke run: n ≤ 100, d ≤ 8")
    parser.add_argument("--ns", type=int, nargs="+", default=None, help="observation counts")
    parser.add_argument("--ds", type=int, nargs="+", default=None, help="dimensions")
    parser.add_argument("--repeats", type=int, default=5, help="timed suggestions per cell")
    parser.add_argument("--time-cap", type=float, default=20.0, help="seconds per method per cell")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)

    torch.set_num_threads(2)
    ns = args.ns or ((10, 100) if args.quick else FULL_NS)
    ds = args.ds or ((3,) if args.quick else FULL_DS)
    repeats = 2 if args.quick else args.repeats
    methods = list(args.methods)
    if args.quick:
        methods = [m for m in methods if m != "reference_equivalent"]
    if not engine_available():
        print("carbs_optimizer.CARBS is not importable: timing Optuna only", file=sys.stderr)
        methods = [m for m in methods if m in ("optuna_gp", "optuna_tpe")]

    warnings.filterwarnings("ignore", message="The input matches the stored training data")
    _warm_up(methods)
    started = time.perf_counter()
    cells: list[Cell] = []
    for d in ds:
        for n in ns:
            cell = run_cell(n, d, repeats, args.time_cap, methods)
            cells.append(cell)
            line = " ".join(
                f"{m}={fmt_seconds(t.suggest_median)}" + (f" ERROR({t.error})" if t.error else "")
                for m, t in cell.timings.items()
            )
            print(f"  n={n:5d} d={d:3d} {line}", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started

    suffix = ".quick.raw" if args.quick else ""  # quick runs: git-ignored (*.raw.json)
    output = args.output or RESULTS_DIR / f"suggest_latency{suffix}.json"
    payload = {
        "benchmark": "suggest_latency",
        "quick": args.quick,
        "machine": machine_description(),
        "versions": package_versions(),
        "wall_seconds": wall,
        "settings": {
            "repeats": repeats,
            "time_cap_seconds": args.time_cap,
            "torch_threads": torch.get_num_threads(),
            "reference_measured_seconds": {
                f"n={n},d={d}": s for (n, d), s in REFERENCE_MEASURED_SECONDS.items()
            },
            "optuna_gp_earlier_seconds": {
                f"n={n},d={d}": s for (n, d), s in OPTUNA_GP_EARLIER_SECONDS.items()
            },
        },
        "cells": [
            {
                "n": c.n,
                "d": c.d,
                "load_average_before": c.load_average_before,
                "wall_seconds": c.wall_seconds,
                "methods": {
                    m: {
                        **asdict(t),
                        "suggest_median": t.suggest_median,
                        "observe_median": t.observe_median,
                    }
                    for m, t in c.timings.items()
                },
            }
            for c in cells
        ],
    }
    write_json(output, payload)
    print(render_tables(cells))
    print(f"total wall time {wall:.0f} s; results in {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
