"""The trials' cost line (carbs_optimizer.laws.cost_line) read from trial records."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from carbs_operator.study import TrialRecord
from carbs_optimizer import Param
from carbs_optimizer.laws.cost_line import CostLine, fit_cost_line


def fit_cost_model(params: Sequence[Param], trials: Sequence[TrialRecord]) -> CostLine | None:
    """The line over the trials with a positive cost and every parameter set (basic
    coordinates in `params` order); None when it does not explain cost."""
    rows, costs = [], []
    for trial in trials:
        if trial.cost is None or not trial.cost > 0:
            continue
        try:
            rows.append([p.space.basic_from_param(float(trial.params[p.name])) for p in params])
        except (KeyError, TypeError, ValueError):
            continue
        costs.append(math.log10(trial.cost))
    if not rows:
        return None
    return fit_cost_line(np.asarray(rows, dtype=np.float64), np.asarray(costs, dtype=np.float64))
