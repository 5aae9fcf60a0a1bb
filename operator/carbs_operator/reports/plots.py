"""The study's plot: every trial, cost (log) against objective, the frontier as a step
line (`carbs plot`, `carbs run`'s report, tune()'s result.plot())."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from carbs_operator.formatting import cost_label
from carbs_operator.frontier import pareto_frontier
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord, count_trials, direction_sign, successes


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
        from carbs_operator.reports.curves import draw_curves

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
