"""The objective's own scaling law: how the best objective moves with compute.

The per-parameter laws (scaling.py) say *where* the frontier goes as cost grows; this says
*how far*: a saturating power law fitted to the frontier's (cost, objective) points,

    L(C) = E + s · A · (C / C_ref)^(−α),    s = +1 when minimizing, −1 when maximizing,

with E the irreducible objective (the floor a minimized loss approaches, the ceiling of a
maximized accuracy), A > 0 the gap left at the reference cost C_ref (the dearest point) and
α > 0 how fast more compute closes it. A pure power law (no E) would extrapolate a loss to
zero; a straight line in log cost would extrapolate it below zero.

Fitted in log cost with a robust loss (soft L1), since a frontier picks the luckiest of
noisy trials and one lucky cheap point should not bend the curve. E, A and α trade off
against each other on a short frontier, so a single fit says little about its own error:
`bootstrap_law_fits` refits on frontier points resampled with replacement, and the spread
of the refits' predictions is the interval a caller reports.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

# Exponent bounds: below ~0.01 the "saturating" law is a straight line in log cost; above 3
# it saturates within a fraction of a decade. Both ends mean the data did not pin α down.
MIN_EXPONENT = 1e-3
MAX_EXPONENT = 3.0
# The floor may lie this many frontier spans beyond the best point: far enough that a
# frontier still falling steeply is not forced to saturate, bounded so the fit converges.
FLOOR_REACH = 20.0


@dataclass(frozen=True)
class ObjectiveLaw:
    """L(C) = floor + sign · amplitude · (C / reference_cost)^(−exponent)."""

    floor: float
    amplitude: float
    exponent: float
    reference_cost: float
    sign: int  # +1: minimized objective (falls toward floor), −1: maximized (rises)

    def __call__(self, cost: float) -> float:
        """The law at `cost`; ±inf where a cost far below the points overflows a float."""
        ratio = cost / self.reference_cost
        try:
            gap = self.amplitude * math.pow(ratio, -self.exponent)
        except OverflowError:
            gap = math.inf
        return self.floor + self.sign * gap


def _model(theta: np.ndarray, x: np.ndarray, sign: int) -> np.ndarray:
    floor, log_amplitude, exponent = theta
    result: np.ndarray = floor + sign * np.exp(log_amplitude - exponent * x)
    return result


def _jacobian(theta: np.ndarray, x: np.ndarray, sign: int) -> np.ndarray:
    """d model / d (floor, log amplitude, exponent): analytic, a third of the solver's time
    otherwise goes to finite differences."""
    gap = sign * np.exp(theta[1] - theta[2] * x)
    return np.column_stack([np.ones_like(x), gap, -x * gap])


def _bounds(y: np.ndarray, sign: int) -> tuple[list[float], list[float]]:
    span = max(float(np.ptp(y)), 1e-12 * max(1.0, float(np.max(np.abs(y)))))
    if sign > 0:
        floor_low, floor_high = float(np.min(y)) - FLOOR_REACH * span, float(np.min(y))
    else:
        floor_low, floor_high = float(np.max(y)), float(np.max(y)) + FLOOR_REACH * span
    return [floor_low, -60.0, MIN_EXPONENT], [floor_high, 60.0, MAX_EXPONENT]


def _starts(x: np.ndarray, y: np.ndarray, sign: int) -> list[np.ndarray]:
    """Initial guesses: floors at several distances beyond the best point, each with the
    line that log(gap) makes against log cost at that floor."""
    span = max(float(np.ptp(y)), 1e-12)
    best = float(np.min(y)) if sign > 0 else float(np.max(y))
    starts = []
    for reach in (0.05, 0.3, 1.0, 5.0):
        floor = best - sign * reach * span
        gap = np.log(np.maximum(sign * (y - floor), 1e-300))
        slope, intercept = (np.polyfit(x, gap, 1) if np.ptp(x) > 0 else (0.0, float(gap[0])))
        exponent = float(np.clip(-slope, MIN_EXPONENT * 2, MAX_EXPONENT / 2))
        starts.append(np.array([floor, float(intercept), exponent]))
    return starts


def _solve(
    x: np.ndarray, y: np.ndarray, sign: int, starts: Sequence[np.ndarray],
    max_evaluations: int = 400,
) -> np.ndarray | None:
    low, high = _bounds(y, sign)
    # Residuals larger than ~5% of the frontier's span are down-weighted (soft L1).
    scale = max(float(np.ptp(y)) / 20.0, 1e-12)
    best: tuple[float, np.ndarray] | None = None
    for start in starts:
        clipped = np.clip(start, np.array(low) + 1e-12, np.array(high) - 1e-12)
        try:
            fit = least_squares(
                lambda theta: _model(theta, x, sign) - y, clipped, bounds=(low, high),
                jac=lambda theta: _jacobian(theta, x, sign),
                loss="soft_l1", f_scale=scale, max_nfev=max_evaluations,
            )
        except (ValueError, np.linalg.LinAlgError):
            continue
        if fit.x is not None and np.all(np.isfinite(fit.x)) and (
            best is None or fit.cost < best[0]
        ):
            best = (float(fit.cost), np.asarray(fit.x, dtype=np.float64))
    return None if best is None else best[1]


def fit_objective_law(
    costs: Sequence[float], objectives: Sequence[float], sign: int,
    reference_cost: float | None = None,
) -> ObjectiveLaw | None:
    """The robust fit over frontier points (None when the solver finds nothing finite).

    `sign` is +1 for a minimized objective, −1 for a maximized one. Callers check that the
    points can support a fit (enough of them, a cost span, some improvement) first; this
    only fits.
    """
    c = np.asarray(costs, dtype=np.float64)
    y = np.asarray(objectives, dtype=np.float64)
    reference = float(np.max(c)) if reference_cost is None else reference_cost
    x = np.log(c / reference)
    theta = _solve(x, y, sign, _starts(x, y, sign))
    return None if theta is None else _law(theta, reference, sign)


def _law(theta: np.ndarray, reference: float, sign: int) -> ObjectiveLaw:
    return ObjectiveLaw(
        floor=float(theta[0]), amplitude=float(math.exp(theta[1])), exponent=float(theta[2]),
        reference_cost=reference, sign=sign,
    )


def bootstrap_law_fits(
    costs: Sequence[float], objectives: Sequence[float], law: ObjectiveLaw,
    resamples: Sequence[Sequence[int]],
) -> list[ObjectiveLaw]:
    """Refits on each resample of point indices, started from `law` (the full fit).

    A resample with fewer than three distinct costs cannot pin three parameters and is
    skipped, so the list may be shorter than `resamples`.
    """
    c = np.asarray(costs, dtype=np.float64)
    y = np.asarray(objectives, dtype=np.float64)
    x = np.log(c / law.reference_cost)
    start = np.array([law.floor, math.log(law.amplitude), law.exponent])
    fits = []
    for indices in resamples:
        chosen = np.asarray(indices, dtype=np.int64)
        if len(np.unique(x[chosen])) < 3:
            continue
        # A resample starts at the full fit's optimum and rarely moves far from it.
        theta = _solve(x[chosen], y[chosen], law.sign, [start], max_evaluations=100)
        if theta is not None:
            fits.append(_law(theta, law.reference_cost, law.sign))
    return fits
