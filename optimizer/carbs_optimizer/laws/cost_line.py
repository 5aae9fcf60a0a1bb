"""How cost follows the parameters: log10(cost) as a line in the basic coordinates.

Where such a line explains the trials' costs (R² ≥ MIN_COST_R2: FLOPs against log size and
log tokens, GPU-seconds against log width and log epochs), it names the parameters that
buy compute (the *drivers*) and says how far each must move to spend a given cost. The
joint scale-up law (allocation.py) spends a target cost along it, and a prediction made of
separately fitted laws is moved onto it by the smallest step (`shift`). A parameter that
cost does not follow gets no share of either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Below this the parameters do not explain cost well enough to steer by it.
MIN_COST_R2 = 0.95
# A weight this small (log10 cost per unit of basic coordinate) is noise, not a cost driver.
MIN_WEIGHT = 0.05
# Nor is a parameter whose whole observed range moves cost by under this share of the
# observed cost range.
MIN_SHARE = 0.1
# Trials beyond the line's own coefficients that a fit needs.
SPARE_ROWS = 2


@dataclass(frozen=True)
class CostLine:
    """log10(cost) ≈ intercept + weights · basic (d), over every parameter; `drivers` are
    the indices of the parameters cost follows."""

    weights: np.ndarray  # d: 0 for a parameter no trial varied
    intercept: float
    r2: float
    drivers: tuple[int, ...]

    def log_cost(self, basic: np.ndarray) -> float:
        return float(self.intercept + self.weights @ basic)

    def shift(self, basic: np.ndarray, cost: float) -> np.ndarray:
        """The change of every basic coordinate (d) that brings the modelled cost of `basic`
        to `cost`: the minimum-norm step along the drivers' weights (0 for the others)."""
        drivers = list(self.drivers)
        step = np.zeros(len(self.weights))
        deficit = math.log10(cost) - self.log_cost(basic)
        step[drivers] = deficit * self.weights[drivers] / float(
            self.weights[drivers] @ self.weights[drivers])
        return step


def fit_cost_line(basic: np.ndarray, log_costs: np.ndarray) -> CostLine | None:
    """Least squares of `log_costs` (n) on `basic` (n x d); None when the line does not
    explain cost or there are too few rows for it."""
    n, d = basic.shape
    if n < d + 1 + SPARE_ROWS:
        return None
    # A parameter every trial had at one value cannot have told cost anything (its column
    # would only split the intercept): it gets weight 0.
    varied = [j for j in range(d) if float(np.ptp(basic[:, j])) > 0]
    design = np.column_stack([np.ones(n), basic[:, varied]])
    solution, *_ = np.linalg.lstsq(design, log_costs, rcond=None)
    if not all(map(math.isfinite, solution)):
        return None
    residual = float(np.sum((log_costs - design @ solution) ** 2))
    total = float(np.sum((log_costs - log_costs.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 0.0
    weights = np.zeros(d)
    weights[varied] = solution[1:]
    # A driver moves cost by a real share of its observed range over its own range;
    # anything less is the fit spreading residue (rounding, noise) over bystanders.
    reach = np.abs(weights) * np.ptp(basic, axis=0)
    drivers = tuple(j for j in range(d) if abs(weights[j]) >= MIN_WEIGHT
                    and reach[j] >= MIN_SHARE * float(np.ptp(log_costs)))
    if r2 < MIN_COST_R2 or not drivers:
        return None
    return CostLine(weights=weights, intercept=float(solution[0]), r2=r2, drivers=drivers)
