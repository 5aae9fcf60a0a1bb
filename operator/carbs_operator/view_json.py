"""A study view (study_view.StudyView) as JSON: for `carbs frontier --json`, the UI and
scripts. Keys are camelCase like the CarbsStudy status; numbers are finite or null, since
JSON has no NaN and a browser's JSON.parse rejects it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from carbs_operator.formatting import cost_label, law_reading
from carbs_operator.models import Parameter, StudySpec, StudyStatus, TrialPhase
from carbs_operator.study import TrialRecord, trial_name

if TYPE_CHECKING:  # the engine (torch) loads only once a view is computed
    from carbs_operator.study_view import StudyView
    from carbs_optimizer import ScalingLaw as FittedLaw

JSON = dict[str, Any]
#: Points of a law's drawn line across the frontier's cost range.
LAW_LINE_POINTS = 24


def number(value: float | None) -> float | None:
    """A finite float, or None: the one spelling of 'no number' in the JSON."""
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def objective_json(spec: StudySpec) -> JSON:
    return {"metric": spec.objective.metric, "direction": str(spec.objective.direction)}


def parameter_json(parameter: Parameter) -> JSON:
    return {
        "name": parameter.name, "space": str(parameter.space),
        "min": number(parameter.min), "max": number(parameter.max),
        "integer": bool(parameter.integer), "choices": parameter.choices,
        "values": parameter.values,
    }


def summary_json(name: str, namespace: str, spec: StudySpec, status: StudyStatus) -> JSON:
    """The studies list's row, from a study's status alone (on a cluster the operator has
    written it: listing 200 studies refits nothing)."""
    best, counts = status.best_trial, status.trials
    return {
        "name": name, "namespace": namespace,
        "phase": None if status.phase is None else str(status.phase),
        "trials": {"finished": counts.total - counts.pending - counts.running,
                   "total": counts.total, "budget": spec.budget.max_trials},
        "best": None if best is None else {"trial": best.index,
                                           "objective": number(best.objective)},
        "totalCost": number(status.total_cost),
        "maxTotalCost": number(spec.budget.max_total_cost),
        "conditions": [{"type": c.type, "status": str(c.status), "reason": c.reason,
                        "message": c.message} for c in status.conditions],
        "objective": objective_json(spec),
        "costLabel": cost_label(spec),
    }


def view_summary_json(view: StudyView) -> JSON:
    return summary_json(view.name, view.namespace, view.spec, view.status)


def failure_text(trial: TrialRecord) -> str | None:
    """Why a trial failed or stopped, or what is odd about it, in one sentence."""
    if trial.early_stop is not None:
        return trial.early_stop.reason
    if trial.failure_reason:
        return trial.failure_reason
    if trial.phase in (TrialPhase.PENDING, TrialPhase.RUNNING):
        return trial.progress_warning
    return None


def trial_json(view: StudyView, trial: TrialRecord) -> JSON:
    """One trial's row: its parameters, result and why it ended as it did."""
    return {
        "index": trial.index, "name": trial_name(view.name, trial.index),
        "phase": str(trial.phase),
        "params": {k: (v if isinstance(v, str) else number(v)) for k, v in trial.params.items()},
        "objective": number(trial.objective), "cost": number(trial.cost),
        "reason": failure_text(trial),
        "stopStep": None if trial.early_stop is None else trial.early_stop.step,
        "onFrontier": trial.index in view.frontier_indices,
        "startedAt": number(trial.started_at), "finishedAt": number(trial.finished_at),
    }


def law_json(law: FittedLaw, view: StudyView) -> JSON:
    """A law with its interval, its verdict and a line to draw over the frontier."""
    bands = None if law.bands is None else [
        {"minCost": number(b.min_cost), "maxCost": number(b.max_cost), "value": b.value,
         "points": b.points} for b in law.bands]
    interval = law.exponent_interval
    return {
        "parameter": law.parameter, "space": law.space, "fit": law.fit,
        "exponent": number(law.exponent),
        "interval": None if interval is None else [number(interval[0]), number(interval[1])],
        "intercept": number(law.intercept), "r2": number(law.r2), "points": law.points,
        "verdict": law.verdict, "heldValue": number(law.held_value),
        "saturationCost": number(law.saturation_cost),
        "reading": law_reading(law), "bands": bands,
        "line": law_line(law, [float(t.cost or 0.0) for t in view.frontier]),
    }


def law_line(law: FittedLaw, costs: Sequence[float]) -> list[JSON]:
    """The law's value across the frontier's cost range, with the band its exponent's
    interval spans (pivoting at the range's middle, where the fit is best pinned)."""
    positive = [c for c in costs if c > 0 and math.isfinite(c)]
    if law.exponent is None or law.intercept is None or len(positive) < 2:
        return []
    low, high = math.log10(min(positive)), math.log10(max(positive))
    middle = (low + high) / 2.0
    at_middle = law.exponent * middle + law.intercept
    edges = [law]
    if law.exponent_interval is not None:
        edges += [replace(law, exponent=e, intercept=at_middle - e * middle)
                  for e in law.exponent_interval]
    out = []
    for step in range(LAW_LINE_POINTS):
        cost = 10.0 ** (low + (high - low) * step / (LAW_LINE_POINTS - 1))
        values = [edge.predict(cost) for edge in edges]
        finite = [v for v in values[1:] if v is not None and math.isfinite(v)]
        out.append({"cost": cost, "value": number(values[0]),
                    "low": min(finite) if finite else None,
                    "high": max(finite) if finite else None})
    return out


def frontier_json(view: StudyView) -> JSON:
    """What `carbs frontier --json` prints: the frontier, the laws and the stopped trials,
    the same data its tables show, for scripts."""
    return {
        "study": view.name, "objective": objective_json(view.spec),
        "costLabel": cost_label(view.spec),
        "frontier": [trial_json(view, t) for t in view.frontier],
        "laws": [law_json(law, view) for law in view.laws],
        "stopped": [trial_json(view, t) for t in view.trials
                    if t.phase == TrialPhase.EARLY_STOPPED],
        "summary": view_summary_json(view),
    }


def view_json(view: StudyView, *, manifest: str) -> JSON:
    """The whole study for the UI's study page (ui/source.py documents the shape)."""
    scale_up = view.status.scale_up
    return {
        "name": view.name, "namespace": view.namespace,
        "objective": objective_json(view.spec),
        "costLabel": cost_label(view.spec),
        "parameters": [parameter_json(p) for p in view.spec.parameters],
        "summary": view_summary_json(view),
        "status": view.status.model_dump(mode="json", by_alias=True, exclude_none=True),
        "trials": [trial_json(view, t) for t in view.trials],
        "frontier": [t.index for t in view.frontier],
        "laws": [law_json(law, view) for law in view.laws],
        "scaleUp": None if scale_up is None else scale_up.model_dump(
            mode="json", by_alias=True, exclude_none=True),
        "manifest": manifest,
    }


def curves_json(view: StudyView) -> JSON:
    """Every trial's learning curve (report_progress), stopped ones marked."""
    return {
        "metric": view.spec.objective.metric,
        "trials": [{
            "index": t.index, "phase": str(t.phase),
            "stopped": t.phase == TrialPhase.EARLY_STOPPED,
            "stopStep": None if t.early_stop is None else t.early_stop.step,
            "points": [[p.step, number(p.objective)] for p in t.curve],
        } for t in view.trials if t.curve],
    }


def trial_detail_json(view: StudyView, index: int, log: list[str] | None = None) -> JSON | None:
    """One trial's page: its row, its curve, every metric it reported, its log tail."""
    trial = view.trial(index)
    if trial is None:
        return None
    return {
        "trial": trial_json(view, trial),
        "curve": [[p.step, number(p.objective)] for p in trial.curve],
        "metrics": {k: number(v) for k, v in trial.metrics.items()},
        "log": log,
    }
