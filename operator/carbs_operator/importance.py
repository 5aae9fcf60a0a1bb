"""Which parameters matter at which cost: importance per band of the cost axis.

One importance over a whole study mostly rediscovers the cost drivers (model size moves
both cost and objective). Within a band of similar cost, what is left is what a user can
tune at that budget. Each band's importances come from scikit-learn's random forest
(impurity-based: cheap enough for 10,000 trials, and sklearn is already an engine
dependency); categorical and ordinal values enter as their index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from carbs_operator.models import Parameter, ParameterSpace, StudySpec
from carbs_operator.study import TrialRecord, successes

#: Cost bands along the frontier's axis, at most.
MAX_BANDS = 4
#: Trials a band needs before a forest's importances mean anything.
MIN_BAND_TRIALS = 12
#: Rows one forest is fitted on, at most (an even sample of the band).
MAX_ROWS = 2000
METHOD = "random forest (scikit-learn), impurity-based, per cost band"


def _column(parameter: Parameter, values: Sequence[float | str | None]) -> np.ndarray:
    """A parameter's values as numbers a tree splits on."""
    levels: list[Any] | None = parameter.choices or parameter.values
    out = []
    for value in values:
        if levels is not None:
            out.append(float(levels.index(value)) if value in levels else math.nan)
        elif isinstance(value, int | float) and math.isfinite(value):
            positive_log = parameter.space == ParameterSpace.LOG and value > 0
            out.append(math.log10(value) if positive_log else float(value))
        else:
            out.append(math.nan)
    return np.array(out, dtype=np.float64)


def _shares(spec: StudySpec, trials: Sequence[TrialRecord], seed: int) -> dict[str, float]:
    from sklearn.ensemble import RandomForestRegressor

    names = [p.name for p in spec.parameters]
    if len(trials) > MAX_ROWS:
        keep = np.linspace(0, len(trials) - 1, MAX_ROWS).round().astype(int)
        trials = [trials[i] for i in keep]
    X = np.column_stack([_column(p, [t.params.get(p.name) for t in trials])
                         for p in spec.parameters])
    y = np.array([float(t.objective or 0.0) for t in trials])
    rows = np.all(np.isfinite(X), axis=1) & np.isfinite(y)
    if rows.sum() < MIN_BAND_TRIALS or float(np.ptp(y[rows])) == 0.0:
        return dict.fromkeys(names, 0.0)
    forest = RandomForestRegressor(n_estimators=48, min_samples_leaf=2, random_state=seed,
                                   n_jobs=1)
    forest.fit(X[rows], y[rows])
    shares = np.asarray(forest.feature_importances_, dtype=np.float64)
    total = float(shares.sum())
    return {n: (float(s) / total if total > 0 else 0.0) for n, s in zip(names, shares,
                                                                         strict=True)}


def cost_importance(spec: StudySpec, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """`{method, bands: [{minCost, maxCost, trials, importance}], overall}`: bands split
    the successes' log cost into equal-count slices (so each holds enough trials)."""
    done = sorted((t for t in successes(trials)
                   if t.cost is not None and t.cost > 0 and math.isfinite(t.cost)
                   and t.objective is not None and math.isfinite(t.objective)),
                  key=lambda t: float(t.cost or 0.0))
    count = min(MAX_BANDS, len(done) // MIN_BAND_TRIALS)
    bands = []
    for number in range(count):
        part = done[number * len(done) // count:(number + 1) * len(done) // count]
        bands.append({"minCost": float(part[0].cost or 0.0),
                      "maxCost": float(part[-1].cost or 0.0), "trials": len(part),
                      "importance": _shares(spec, part, seed=number)})
    overall = _shares(spec, done, seed=0) if len(done) >= MIN_BAND_TRIALS else {}
    return {"method": METHOD, "bands": bands, "overall": overall,
            "minTrials": MIN_BAND_TRIALS}
