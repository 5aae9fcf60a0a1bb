"""Hold a predicted configuration to the cost it was predicted for.

Each parameter's law is fitted on its own, so the predicted configuration need not cost
what was asked: on a language-model frontier the laws of model size and tokens each carry
their own error, and their product drifts from the target compute. The trials themselves
say how cost follows the parameters; where a line in the search coordinates explains it
(log10 cost against basic coordinates, R² ≥ MIN_COST_R2: FLOPs against log size and log
tokens, GPU-seconds against log width and log epochs), the prediction is moved by the
smallest step in those coordinates that makes the line's cost equal the target. A
parameter that cost does not follow gets no share of the step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from carbs_operator.study import TrialRecord
from carbs_optimizer import Param

# Below this the parameters do not explain cost well enough to steer by it.
MIN_COST_R2 = 0.95
# A weight this small (log10 cost per unit of basic coordinate) is noise, not a cost driver.
MIN_WEIGHT = 0.05
# Nor is a parameter whose whole observed range moves cost by under this share of the
# observed cost range.
MIN_SHARE = 0.1


@dataclass(frozen=True)
class CostModel:
    """log10(cost) ≈ intercept + Σ weight · basic coordinate, over the cost drivers."""

    weights: Mapping[str, float]  # every numeric parameter's
    intercept: float
    r2: float
    drivers: tuple[str, ...]  # the parameters cost follows (|weight| >= MIN_WEIGHT)

    def log_cost(self, basic: Mapping[str, float]) -> float:
        return self.intercept + sum(w * basic[name] for name, w in self.weights.items())

    def shift(self, basic: Mapping[str, float], cost: float) -> dict[str, float]:
        """The change of each driver's basic coordinate that brings the modelled cost of
        `basic` to `cost`: the minimum-norm step along the drivers' weights."""
        deficit = math.log10(cost) - self.log_cost(basic)
        norm = sum(self.weights[name] ** 2 for name in self.drivers)
        return {name: deficit * self.weights[name] / norm for name in self.drivers}


def fit_cost_model(params: Sequence[Param], trials: Sequence[TrialRecord]) -> CostModel | None:
    """Least squares over the succeeded trials; None when the line does not explain cost."""
    rows, costs = [], []
    for trial in trials:
        if trial.cost is None or not trial.cost > 0:
            continue
        try:
            rows.append([p.space.basic_from_param(float(trial.params[p.name])) for p in params])
        except (KeyError, TypeError, ValueError):
            continue
        costs.append(math.log10(trial.cost))
    if len(rows) < len(params) + 3:
        return None
    x, y = np.asarray(rows, dtype=np.float64), np.asarray(costs, dtype=np.float64)
    # A parameter every trial had at one value cannot have told cost anything (its column
    # would only split the intercept): it gets weight 0.
    varied = [j for j in range(x.shape[1]) if float(np.ptp(x[:, j])) > 0]
    design = np.column_stack([np.ones(len(y)), x[:, varied]])
    solution, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.sum((y - design @ solution) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 0.0
    weights = {p.name: 0.0 for p in params}
    weights.update({params[j].name: float(w) for j, w in zip(varied, solution[1:], strict=True)})
    # A driver moves cost by a real share of its observed range over its own range;
    # anything less is the fit spreading residue (rounding, noise) over bystanders.
    reach = {params[j].name: abs(weights[params[j].name]) * float(np.ptp(x[:, j]))
             for j in varied}
    drivers = tuple(name for name, w in weights.items() if abs(w) >= MIN_WEIGHT
                    and reach.get(name, 0.0) >= MIN_SHARE * float(np.ptp(y)))
    if r2 < MIN_COST_R2 or not drivers or not all(map(math.isfinite, solution)):
        return None
    return CostModel(weights=weights, intercept=float(solution[0]), r2=r2, drivers=drivers)
