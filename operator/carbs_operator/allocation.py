"""The joint path of a scale-up prediction from trial records: every numeric parameter from
one law over all trials (carbs_optimizer.laws.allocation), held to the target cost by the
trials' cost line.

predict.py calls `allocation_for` first and falls back to the frontier's per-parameter
laws when it returns None: when cost follows no line in the parameters (nothing says which
parameters buy compute), or when there are too few trials for the law's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from carbs_operator.study import TrialRecord
from carbs_optimizer import Param, ScalingLaw
from carbs_optimizer.laws.allocation import Allocation, fit_allocation


def allocation_for(
    params: Sequence[Param], trials: Sequence[TrialRecord], frontier: Sequence[TrialRecord],
    laws: Sequence[ScalingLaw], sign: int,
) -> Allocation | None:
    """The joint law over `trials` (finite, succeeded) for the numeric `params`, with the
    `frontier`'s `laws` as its prior; None where it cannot be fitted."""
    if not params or not trials:
        return None
    basic = np.array([[p.space.basic_from_param(float(t.params[p.name])) for p in params]
                      for t in trials], dtype=np.float64)
    on_frontier = {t.index for t in frontier}
    return fit_allocation(
        params, basic, np.array([float(t.objective or 0.0) for t in trials]),
        np.array([float(t.cost or 0.0) for t in trials]), sign,
        [i for i, t in enumerate(trials) if t.index in on_frontier], laws)
