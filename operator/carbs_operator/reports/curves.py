"""The learning-curve panel of `carbs plot --curves`: each trial's objective against its
cost so far, so a stopped trial is seen beside the runs it was judged against.

The x axis is the cost so far (log) when every curve point has one, else the step (a study
whose cost metric is not printed with its progress lines has no cost per point).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from carbs_operator.early_stopping import CurvePoint
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord

_STYLE: dict[TrialPhase, dict[str, Any]] = {
    TrialPhase.SUCCEEDED: {"color": "tab:blue", "alpha": 0.45, "linewidth": 1.0},
    TrialPhase.EARLY_STOPPED: {"color": "tab:orange", "alpha": 0.8, "linewidth": 1.0},
    TrialPhase.RUNNING: {"color": "tab:green", "alpha": 0.8, "linewidth": 1.0,
                         "linestyle": "--"},
}
_OTHER: dict[str, Any] = {"color": "tab:grey", "alpha": 0.5, "linewidth": 0.8}
_LABEL = {TrialPhase.SUCCEEDED: "succeeded", TrialPhase.EARLY_STOPPED: "stopped early",
          TrialPhase.RUNNING: "running"}


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _by_cost(trials: Sequence[TrialRecord]) -> bool:
    """Whether every point of every curve has a positive cost (a log axis can show it)."""
    points = [p for t in trials for p in t.curve]
    return bool(points) and all(_finite(p.cost) and (p.cost or 0.0) > 0 for p in points)


def _xy(curve: Sequence[CurvePoint], by_cost: bool) -> tuple[list[float], list[float]]:
    kept = [p for p in curve if _finite(p.objective)]
    xs = [float(p.cost or 0.0) if by_cost else float(p.step) for p in kept]
    return xs, [p.objective for p in kept]


def draw_curves(axes: Any, spec: StudySpec, trials: Sequence[TrialRecord]) -> None:
    """One line per trial that reported progress; a stopped trial ends in an ✕."""
    with_curves = [t for t in trials if t.curve]
    if not with_curves:
        axes.text(0.5, 0.5, "no trial reported progress (carbs_operator.report_progress)",
                  ha="center", va="center", transform=axes.transAxes, color="grey")
        axes.set_axis_off()
        return
    by_cost = _by_cost(with_curves)
    counts = Counter(_LABEL.get(t.phase, "other") for t in with_curves)
    labelled: set[str] = set()
    for trial in sorted(with_curves, key=lambda t: t.phase == TrialPhase.EARLY_STOPPED):
        xs, ys = _xy(trial.curve, by_cost)
        style = _STYLE.get(trial.phase, _OTHER)
        label = _LABEL.get(trial.phase, "other")
        text = None if label in labelled else f"{label} ({counts[label]})"
        labelled.add(label)
        axes.plot(xs, ys, label=text, **style)
        if trial.phase == TrialPhase.EARLY_STOPPED and xs:
            axes.scatter([xs[-1]], [ys[-1]], marker="x", s=24, color=style["color"], zorder=3)
    if by_cost:
        axes.set_xscale("log")
        cost = spec.cost.metric or str(spec.cost.source or "cost")
        axes.set_xlabel(f"{cost} so far (log scale)")
    else:
        axes.set_xlabel("step")
    axes.set_ylabel(f"{spec.objective.metric} ({spec.objective.direction})")
    axes.set_title("learning curves" + (f" (early stopping: {spec.early_stopping.rule})"
                                        if spec.early_stopping is not None else ""))
    axes.grid(True, which="both", alpha=0.25)
    axes.legend(loc="best", fontsize="small")
