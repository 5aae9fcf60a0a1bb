"""The study's cost/objective frontier, as status, tables and plots show it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory
from rich.console import Console
from rich.table import Table

from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.replay import engine_params
from carbs_operator.study import TrialRecord, count_trials, direction_sign, successes
from carbs_optimizer import Param, ScalingLaw
from carbs_optimizer.observations import ObservationInBasic
from carbs_optimizer.pareto import get_pareto_groups, group_observations
from carbs_optimizer.surrogate import DTYPE

# Status and tables show at most this many frontier points (the cheapest and dearest kept).
MAX_FRONTIER_POINTS = 50


def pareto_frontier(
    spec: StudySpec, trials: Sequence[TrialRecord], limit: int = MAX_FRONTIER_POINTS
) -> list[TrialRecord]:
    """Successful trials on the cost/objective frontier, by increasing cost.

    The engine's own Pareto grouping with no cheap-cost bucket: repeats of one point count
    once (its earliest trial stands for the group, carrying the group's mean objective and
    cost), and a point is on the frontier when it beats every cheaper one. Longer frontiers
    are thinned evenly to `limit` points, keeping both ends.
    """
    done = sorted(successes(trials), key=lambda t: t.index)
    if not done:
        return []
    params = engine_params(spec)
    observations = [
        ObservationInBasic(basic, float(t.objective or 0.0), float(t.cost or 0.0), str(t.index))
        for t in done
        if (basic := _basic(params, t)) is not None
    ]
    if not observations:
        return []
    by_index = {t.index: t for t in done}
    frontier = []
    for group in get_pareto_groups(group_observations(observations), 0.0, direction_sign(spec)):
        first = by_index[int(group[0].suggestion_id or 0)]
        frontier.append(replace(
            first,
            objective=sum(o.output for o in group) / len(group),
            cost=sum(o.cost for o in group) / len(group),
        ))
    if len(frontier) > limit:
        step = (len(frontier) - 1) / (limit - 1)
        frontier = [frontier[round(i * step)] for i in range(limit)]
    return frontier


def _basic(params: Sequence[Param], trial: TrialRecord) -> torch.Tensor | None:
    """A trial's point in basic coordinates; None for a record that does not fit the
    parameters (a report skips it rather than failing)."""
    try:
        values = [p.space.basic_from_param(trial.params[p.name]) for p in params]
    except (KeyError, ValueError):
        return None
    return torch.tensor(values, dtype=DTYPE)


# ------------------------------------------------------------------------ tables and plot
#
# `carbs run` ends with these and `carbs frontier` / `carbs plot` consist of them, so they
# take the same (spec, trials) the runtimes already hold and never the engine: a report
# must not refit a model just to print what the trial records already say.


def fmt_number(value: float | None) -> str:
    """Four significant digits: costs span decades (FLOPs) while objectives are ~1."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def _param_text(spec: StudySpec, name: str, value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):  # a choice, or a string ordinal: exactly as declared
        return value
    if spec.parameter(name).integer:
        return str(round(value))
    return fmt_number(value)


def cost_label(spec: StudySpec) -> str:
    """What the cost axis counts: the reported metric, else the measured source."""
    return spec.cost.metric or str(spec.cost.source or "cost")


def frontier_table(spec: StudySpec, trials: Sequence[TrialRecord]) -> Table:
    """The frontier as rows a person reads top to bottom: more cost, better objective."""
    frontier = pareto_frontier(spec, trials)
    sign = direction_sign(spec)
    table = Table(
        title=f"Pareto frontier: {spec.objective.metric} ({spec.objective.direction}) "
        f"against {cost_label(spec)}",
        title_justify="left",
    )
    table.add_column("trial", justify="right")
    table.add_column(cost_label(spec), justify="right")
    table.add_column(spec.objective.metric, justify="right")
    for parameter in spec.parameters:
        table.add_column(parameter.name, justify="right")
    table.add_column("", justify="left")
    best = max(frontier, key=lambda t: sign * float(t.objective or 0.0), default=None)
    for point in frontier:
        marked = best is not None and point.index == best.index
        table.add_row(
            str(point.index),
            fmt_number(point.cost),
            fmt_number(point.objective),
            *(_param_text(spec, p.name, point.params.get(p.name)) for p in spec.parameters),
            "★ best" if marked else "",
            style="bold" if marked else None,
        )
    done = len(successes(trials))
    if not frontier:
        table.caption = "no successful trials yet"
    else:
        table.caption = (
            f"{len(frontier)} frontier points of {done} successful trials; repeated points "
            "show their mean"
        )
    return table


def law_reading(law: ScalingLaw) -> str:
    """One phrase a person can act on, in the units the law was fitted in (log10 cost)."""
    if law.bands is not None:
        return band_reading(law)
    if law.exponent is None:
        return "not enough frontier points"
    if law.space == "log":
        return f"{law.parameter} ∝ cost^{law.exponent:.2f}"
    if law.space == "logit":
        return f"log10-odds of {law.parameter}: {law.exponent:+.2g} per decade of cost"
    return f"{law.parameter}: {law.exponent:+.3g} per decade of cost"


def band_reading(law: ScalingLaw) -> str:
    """A categorical or ordinal parameter along the frontier: the value per cost band,
    e.g. `relu up to 3.2e+09, gelu from 5.1e+09`."""
    bands = law.bands or ()
    if not bands:
        return "no frontier points"
    if len(bands) == 1:
        return f"{bands[0].value} all along the frontier"
    parts = [f"{bands[0].value} up to {fmt_number(bands[0].max_cost)}"]
    parts += [f"{b.value} from {fmt_number(b.min_cost)}" for b in bands[1:]]
    return ", ".join(parts)


def scaling_table(laws: Sequence[ScalingLaw]) -> Table:
    """Scaling laws with their fit quality beside them, so a poor R² is seen, not hidden.
    `fit` says where a law came from: "joint", the compute-optimal path of one law over
    every trial (R² of the frontier's points about it); "frontier", a line through them."""
    table = Table(title="Scaling laws", title_justify="left")
    for header in ("parameter", "space", "fit", "exponent/slope", "intercept", "R²", "points"):
        table.add_column(header, justify="left" if header in ("parameter", "space") else "right")
    table.add_column("reading")
    for law in laws:
        table.add_row(
            law.parameter,
            law.space,
            law.fit,
            "—" if law.exponent is None else f"{law.exponent:+.3g}",
            fmt_number(law.intercept),
            "—" if law.r2 is None else f"{law.r2:.2f}",
            str(law.points),
            law_reading(law),
        )
    if not laws:
        table.caption = "no parameters"
    return table


def stopped_table(spec: StudySpec, trials: Sequence[TrialRecord]) -> Table | None:
    """Trials spec.earlyStopping stopped, apart from the frontier: their objective was
    measured before their end, at a part of their cost, so it is no result to rank."""
    stopped = [t for t in trials if t.phase == TrialPhase.EARLY_STOPPED]
    if not stopped:
        return None
    table = Table(title=f"Stopped early ({len(stopped)}): {spec.objective.metric} and "
                  f"{cost_label(spec)} when stopped, not results", title_justify="left")
    for header in ("trial", "step", cost_label(spec), spec.objective.metric):
        table.add_column(header, justify="right")
    table.add_column("reason", overflow="fold")
    for trial in stopped:
        stop = trial.early_stop
        table.add_row(str(trial.index), "—" if stop is None else str(stop.step),
                      fmt_number(trial.cost), fmt_number(trial.objective),
                      stop.reason if stop is not None else "")
    return table


def render_report(
    spec: StudySpec, trials: Sequence[TrialRecord], laws: Sequence[ScalingLaw], console: Console
) -> None:
    """The end-of-study report: where the frontier is, and how parameters move along it."""
    console.print(frontier_table(spec, trials))
    stopped = stopped_table(spec, trials)
    if stopped is not None:
        console.print(stopped)
    console.print(scaling_table(laws))


def plot_study(
    spec: StudySpec, trials: Sequence[TrialRecord], path: str | Path, *, study: str | None = None,
    curves: bool = False,
) -> None:
    """All trials, cost (log) against objective, the frontier as a step line, as a PNG;
    with `curves`, a second panel of the trials' learning curves."""
    study_figure(spec, trials, study=study, curves=curves).savefig(path, format="png")


def study_figure(
    spec: StudySpec, trials: Sequence[TrialRecord], *, study: str | None = None,
    curves: bool = False,
) -> Figure:
    """The figure plot_study saves, for callers that embed or restyle it.

    A bare Figure on an Agg canvas: pyplot's global figure registry would leak figures (and
    pick an interactive backend) when the runner or a test plots more than once.
    """
    figure = Figure(figsize=(14.0, 5.0) if curves else (8.0, 5.0), dpi=110,
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 2, 1) if curves else figure.add_subplot()
    if curves:
        from carbs_operator.curve_plot import draw_curves

        draw_curves(figure.add_subplot(1, 2, 2), spec, trials)
    done = [t for t in successes(trials) if _plottable(t.cost) and _finite(t.objective)]
    counts = count_trials(trials)
    if done:
        axes.scatter(
            [float(t.cost or 0.0) for t in done],
            [float(t.objective or 0.0) for t in done],
            s=18, color="tab:blue", alpha=0.6, label=f"succeeded ({len(done)})",
        )
        # The plot has room for every frontier point; only status and tables are bounded.
        frontier = pareto_frontier(spec, done, limit=max(len(done), 2))
        costs = [float(t.cost or 0.0) for t in frontier]
        objectives = [float(t.objective or 0.0) for t in frontier]
        axes.step(costs, objectives, where="post", color="tab:red", linewidth=1.8)
        axes.scatter(costs, objectives, s=36, color="tab:red", zorder=3,
                     label=f"Pareto frontier ({len(frontier)})")
        _label_choices(axes, spec, frontier)
        best = frontier[-1]  # the dearest frontier point beats every cheaper one
        axes.annotate(
            f"best: trial {best.index}", (float(best.cost or 0.0), float(best.objective or 0.0)),
            xytext=(-8, 10), textcoords="offset points", ha="right", fontsize="small",
        )
    else:
        axes.text(0.5, 0.5, "no successful trials yet", ha="center", va="center",
                  transform=axes.transAxes, color="grey")
    failed = [t for t in trials if t.phase == TrialPhase.FAILED and _plottable(t.cost)]
    if failed:
        # Failures have no objective: they sit on the worse edge, at the cost they spent.
        edge = 0.97 if direction_sign(spec) < 0 else 0.03
        axes.scatter(
            [float(t.cost or 0.0) for t in failed], [edge] * len(failed),
            transform=blended_transform_factory(axes.transData, axes.transAxes),
            marker="x", s=14, color="tab:grey", label=f"failed ({len(failed)})",
        )
    stopped = [t for t in trials if t.phase == TrialPhase.EARLY_STOPPED
               and _plottable(t.cost) and _finite(t.objective)]
    if stopped:
        axes.scatter([float(t.cost or 0.0) for t in stopped],
                     [float(t.objective or 0.0) for t in stopped], marker="v", s=22,
                     color="tab:orange", alpha=0.8,
                     label=f"stopped early, when stopped ({len(stopped)})")
    if done or failed or stopped:
        axes.set_xscale("log")
        axes.legend(loc="best", fontsize="small")
    axes.set_xlabel(f"{cost_label(spec)} (log scale)")
    axes.set_ylabel(f"{spec.objective.metric} ({spec.objective.direction})")
    axes.grid(True, which="both", alpha=0.25)
    name = study or spec.objective.metric
    axes.set_title(
        f"{name}: {counts.total} trials ({counts.succeeded} succeeded, {counts.failed} failed, "
        + (f"{counts.early_stopped} stopped early, " if counts.early_stopped else "")
        + f"{counts.in_flight} in flight)"
    )
    return figure


# Frontier points labelled with their categorical/ordinal values, at most this many.
MAX_LABELLED_POINTS = 12


def _label_choices(axes: Any, spec: StudySpec, frontier: Sequence[TrialRecord]) -> None:
    """Each frontier point's categorical and ordinal values beside it (e.g. `gelu`), so the
    plot shows where along the cost axis the frontier switches choice."""
    names = [p.name for p in spec.parameters if p.is_discrete]
    if not names or len(frontier) > MAX_LABELLED_POINTS:
        return
    for point in frontier:
        text = " · ".join(str(point.params.get(name, "—")) for name in names)
        axes.annotate(text, (float(point.cost or 0.0), float(point.objective or 0.0)),
                      xytext=(6, -12), textcoords="offset points", fontsize="x-small",
                      color="tab:red")


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _plottable(cost: float | None) -> bool:
    """A log axis can show only positive, finite costs."""
    return cost is not None and math.isfinite(cost) and cost > 0
