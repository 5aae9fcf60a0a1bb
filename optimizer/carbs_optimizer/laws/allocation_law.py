"""The compute-optimal allocation: one law over every trial, not one line per parameter.

A study's trials split their cost between *drivers* (parameters cost follows: model size
and tokens, width and epochs) and *others* (learning rate, warmup, ...). Fitting each
parameter's line over the Pareto frontier alone reads a handful of noisy points: the
objective is flat near the optimal split, so the frontier's split wanders, and its cheap
end records where the search started. This law reads all the trials at once:

    y ≈ E + Σ_d A_d · 10^(−α_d · (x_d − x̄_d)) + Σ_j κ_j · (z_j − c_j(x))²,
    c_j(x) = a_j + Σ_d (x_d − x_ref,d) · b_dj,

with x (n x k) the drivers' search coordinates, oriented so that more of each costs more,
and z (n x m) the others'. Each driver buys improvement by a power law of its own with
diminishing returns (the form of Chinchilla's "approach 3", L = E + A/N^α + B/D^β); every
other parameter has a quadratic valley whose center moves linearly with the drivers (a
larger model wants a smaller learning rate). A trial far from the frontier still says
which way its valleys lie, so all of them count.

The best configuration at a cost C is then the allocation that minimizes the power terms
subject to the cost line (`allocate`), with the others at their valleys' centers there.
With α_d different per driver the split is not forced to √k each; with equal α_d it is.

The valley slopes b carry a Gaussian prior (scale `slope_scale`, mean given by the caller:
the frontier's own laws) and the centers a a weak one, so a parameter the objective barely
notices, whose valley the data cannot locate, stays where the frontier puts it instead of
drifting to a bound. The fit is robust (soft L1): a trial that crashed into a bad region
bends nothing. `bootstrap_allocation_laws` refits on resampled trials for the intervals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

LN10 = math.log(10.0)
# Exponent bounds: a driver whose returns vanish (α → 0) or saturate within a fraction of
# a unit of its coordinate (α → 5) is at either end; both mean the data did not pin it.
MIN_EXPONENT = 1e-3
MAX_EXPONENT = 5.0
# Bounds on log amplitudes and log curvatures keep the solver inside float range.
LOG_BOUND = 50.0
# Residuals beyond this many noise scales count linearly, not squared (soft L1).
ROBUST_SCALE = 3.0
# Starting exponents and floors (in spans of the objective below its best value): the
# power law's parameters trade off, so a few starts find the basin a single one misses.
START_EXPONENTS = (0.15, 0.4)
START_FLOORS = (0.5, 1.0, 3.0)
FULL_EVALUATIONS = 400
BOOTSTRAP_EVALUATIONS = 60


@dataclass(frozen=True)
class AllocationPrior:
    """Where the valleys are believed to be before the trials speak: `centers` (m) at the
    reference drivers with `center_scales` (m), and `slopes` (k x m) with `slope_scale`."""

    centers: np.ndarray
    center_scales: np.ndarray
    slopes: np.ndarray
    slope_scale: float


@dataclass(frozen=True)
class AllocationLaw:
    """The fitted law (see the module docstring); arrays are k drivers and m others."""

    floor: float
    log_amplitudes: np.ndarray  # k
    exponents: np.ndarray  # k
    driver_mean: np.ndarray  # k: x̄, where the power terms are anchored
    centers: np.ndarray  # m: a, the valleys' centers at driver_ref
    slopes: np.ndarray  # k x m: b
    log_curvatures: np.ndarray  # m: log κ
    driver_ref: np.ndarray  # k: x_ref
    noise: float  # the robust scale of the residuals the fit was weighted by
    relevance: np.ndarray  # n: each trial's weight (its residual scale is noise / weight)

    def valley_centers(self, drivers: np.ndarray) -> np.ndarray:
        """c(x): the others' best coordinates (m) at drivers x (k)."""
        return np.asarray(self.centers + (drivers - self.driver_ref) @ self.slopes)

    def gain(self, drivers: np.ndarray) -> float:
        """E + the power terms: the objective at drivers x with every other parameter at
        its valley's center."""
        terms = np.exp(self.log_amplitudes - self.exponents * LN10 * (drivers - self.driver_mean))
        return float(self.floor + terms.sum())

    def allocate(
        self, weights: np.ndarray, budget: float, low: np.ndarray, high: np.ndarray
    ) -> np.ndarray:
        """The drivers x (k) minimizing the power terms subject to weights · x = budget and
        low ≤ x ≤ high (weights > 0: the cost line's, for the oriented drivers).

        At the optimum each unclamped driver's marginal gain per unit of cost is one λ:
        α_d·A_d·ln10·10^(−α_d·(x_d − x̄_d)) = λ·w_d, so x_d(λ) is explicit and
        weights · x(λ) falls as λ grows; bisection on log λ finds the budget. A budget
        beyond what the bounds allow gets the nearest corner.
        """
        offset = (self.log_amplitudes / LN10 + np.log10(self.exponents * LN10)
                  - np.log10(weights)) / self.exponents

        def drivers(log_lambda: float) -> np.ndarray:
            free = self.driver_mean + offset - log_lambda / self.exponents
            return np.asarray(np.clip(free, low, high))

        lo, hi = -400.0, 400.0
        for _ in range(120):
            middle = 0.5 * (lo + hi)
            if float(weights @ drivers(middle)) > budget:
                lo = middle
            else:
                hi = middle
        return drivers(0.5 * (lo + hi))


def _unpack(theta: np.ndarray, k: int, m: int) -> tuple[np.ndarray, ...]:
    cuts = np.cumsum([1, k, k, m, k * m])
    floor, log_amp, exps, centers, slopes, log_curv = np.split(theta, cuts)
    return floor, log_amp, exps, centers, slopes.reshape(k, m), log_curv


def _residuals_and_jacobian(
    theta: np.ndarray, x: np.ndarray, z: np.ndarray, y: np.ndarray, mean: np.ndarray,
    ref: np.ndarray, noise: np.ndarray, prior: AllocationPrior,
) -> tuple[np.ndarray, np.ndarray]:
    """Data rows (model − y) / noise, then the prior's rows; and their Jacobian (analytic:
    finite differences would cost one model evaluation per parameter per step)."""
    n, k = x.shape
    m = z.shape[1]
    floor, log_amp, exps, centers, slopes, log_curv = _unpack(theta, k, m)
    spread = x - mean  # n x k
    power = np.exp(log_amp[None, :] - exps[None, :] * LN10 * spread)  # n x k
    moved = x - ref  # n x k
    gap = z - (centers[None, :] + moved @ slopes)  # n x m
    curvature = np.exp(log_curv)  # m
    model = floor[0] + power.sum(1) + (curvature[None, :] * gap**2).sum(1)
    data = (model - y) / noise
    pull = -2.0 * curvature[None, :] * gap  # d model / d center, n x m
    jac_data = np.concatenate([
        np.ones((n, 1)), power, -LN10 * spread * power, pull,
        (moved[:, :, None] * pull[:, None, :]).reshape(n, k * m),
        curvature[None, :] * gap**2,
    ], axis=1) / noise[:, None]
    size = theta.size
    center_rows = np.zeros((m, size))
    center_rows[:, 1 + 2 * k:1 + 2 * k + m] = np.diag(1.0 / prior.center_scales)
    slope_rows = np.zeros((k * m, size))
    slope_rows[:, 1 + 2 * k + m:1 + 2 * k + m + k * m] = np.eye(k * m) / prior.slope_scale
    residuals = np.concatenate([
        data, (centers - prior.centers) / prior.center_scales,
        (slopes - prior.slopes).ravel() / prior.slope_scale])
    return residuals, np.concatenate([jac_data, center_rows, slope_rows])


def _solve(
    x: np.ndarray, z: np.ndarray, y: np.ndarray, mean: np.ndarray, ref: np.ndarray,
    noise: np.ndarray, prior: AllocationPrior, starts: Sequence[np.ndarray], evaluations: int,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The best robust fit over `starts`: (θ, the data residuals in objective units).
    `noise` (n) is each trial's residual scale."""
    k, m = x.shape[1], z.shape[1]
    low = np.concatenate([[-np.inf], np.full(k, -LOG_BOUND), np.full(k, MIN_EXPONENT),
                          np.full(m + k * m, -np.inf), np.full(m, -LOG_BOUND)])
    high = np.concatenate([[np.inf], np.full(k, LOG_BOUND), np.full(k, MAX_EXPONENT),
                           np.full(m + k * m, np.inf), np.full(m, LOG_BOUND)])
    cache: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def both(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = theta.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _residuals_and_jacobian(theta, x, z, y, mean, ref, noise, prior)
        return cache[key]

    best: tuple[float, np.ndarray] | None = None
    for start in starts:
        inside = np.clip(start, low + 1e-9, high - 1e-9)
        try:
            fit = least_squares(lambda t: both(t)[0], inside, jac=lambda t: both(t)[1],
                                bounds=(low, high), loss="soft_l1", f_scale=ROBUST_SCALE,
                                max_nfev=evaluations)
        except (ValueError, np.linalg.LinAlgError):
            continue
        if np.all(np.isfinite(fit.x)) and (best is None or float(fit.cost) < best[0]):
            best = (float(fit.cost), np.asarray(fit.x, dtype=np.float64))
    if best is None:
        return None
    residuals = _residuals_and_jacobian(best[1], x, z, y, mean, ref, noise, prior)[0]
    return best[1], residuals[: len(y)] * noise


def _starts(x: np.ndarray, z: np.ndarray, y: np.ndarray, prior: AllocationPrior) -> list[
        np.ndarray]:
    k, m = x.shape[1], z.shape[1]
    span = max(float(np.ptp(y)), 1e-12)
    spread = np.maximum(z.std(0), 1e-3) if len(z) else np.ones(m)
    log_curv = np.log(0.05 * span / spread**2)
    starts = []
    for reach in START_FLOORS:
        floor = float(np.min(y)) - reach * span
        log_amp = np.full(k, math.log(max((float(np.median(y)) - floor) / k, 1e-12)))
        for exponent in START_EXPONENTS:
            starts.append(np.concatenate([[floor], log_amp, np.full(k, exponent),
                                          prior.centers, prior.slopes.ravel(), log_curv]))
    return starts


def _law(theta: np.ndarray, k: int, m: int, mean: np.ndarray, ref: np.ndarray,
         noise: float, relevance: np.ndarray) -> AllocationLaw:
    floor, log_amp, exps, centers, slopes, log_curv = _unpack(theta, k, m)
    return AllocationLaw(
        floor=float(floor[0]), log_amplitudes=log_amp, exponents=exps, driver_mean=mean,
        centers=centers, slopes=slopes, log_curvatures=log_curv, driver_ref=ref, noise=noise,
        relevance=relevance)


def fit_allocation_law(
    drivers: np.ndarray, others: np.ndarray, objectives: np.ndarray, driver_ref: np.ndarray,
    prior: AllocationPrior, relevance: np.ndarray | None = None,
) -> AllocationLaw | None:
    """The robust fit over all trials: `drivers` n x k (oriented), `others` n x m,
    `objectives` n (minimized: a caller negates a maximized one). None when the solver
    finds nothing finite.

    Two passes: the first weighs residuals by a fixed fraction of the objective's span;
    the second by the robust scale (1.4826 · MAD) of the first's residuals, so the prior
    weighs as much against the data as the data's own scatter warrants.
    """
    mean = drivers.mean(0)
    weight = np.ones(len(objectives)) if relevance is None else relevance
    noise = max(float(np.ptp(objectives)) / 200.0, 1e-12)
    first = _solve(drivers, others, objectives, mean, driver_ref, noise / weight, prior,
                   _starts(drivers, others, objectives, prior), FULL_EVALUATIONS)
    if first is None:
        return None
    theta, residuals = first
    standard = residuals * weight
    scatter = 1.4826 * float(np.median(np.abs(standard - np.median(standard))))
    noise = max(scatter, 1e-9 * max(1.0, float(np.max(np.abs(objectives)))))
    second = _solve(drivers, others, objectives, mean, driver_ref, noise / weight, prior,
                    [theta], FULL_EVALUATIONS)
    k, m = drivers.shape[1], others.shape[1]
    return _law(theta if second is None else second[0], k, m, mean, driver_ref, noise,
                weight)


def bootstrap_allocation_laws(
    drivers: np.ndarray, others: np.ndarray, objectives: np.ndarray, law: AllocationLaw,
    prior: AllocationPrior, resamples: Sequence[Sequence[int]],
) -> list[AllocationLaw]:
    """Refits on each resample of trial indices, started at `law` and weighted by its
    noise scale. A resample the solver cannot fit is skipped, so the list may be shorter."""
    k, m = drivers.shape[1], others.shape[1]
    start = np.concatenate([[law.floor], law.log_amplitudes, law.exponents, law.centers,
                            law.slopes.ravel(), law.log_curvatures])
    fits = []
    for indices in resamples:
        chosen = np.asarray(indices, dtype=np.int64)
        solved = _solve(drivers[chosen], others[chosen], objectives[chosen], law.driver_mean,
                        law.driver_ref, law.noise / law.relevance[chosen], prior, [start],
                        BOOTSTRAP_EVALUATIONS)
        if solved is not None:
            fits.append(_law(solved[0], k, m, law.driver_mean, law.driver_ref, law.noise,
                             law.relevance[chosen]))
    return fits
