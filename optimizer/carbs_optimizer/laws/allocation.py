"""The compute-optimal path: every numeric parameter from one law over all trials
(allocation_law.py), held to each cost by the trials' cost line (cost_line.py).

`fit_allocation` returns None where the law cannot be believed: when cost follows no line
in the parameters (nothing says which parameters buy compute), when there are too few
trials for the law's parameters, or when the fit is implausible. Callers then fall back to
the frontier's per-parameter lines (scaling.py), which also serve the law as its prior.
The scale-up prediction (carbs_operator.predict) reads a configuration at a target cost
off the path; the engine's `scaling_laws()` reads each parameter's slope along it
(`path_laws`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from carbs_optimizer.laws.allocation_law import (
    MAX_EXPONENT,
    AllocationLaw,
    AllocationPrior,
    bootstrap_allocation_laws,
    fit_allocation_law,
)
from carbs_optimizer.laws.cost_line import CostLine, fit_cost_line
from carbs_optimizer.laws.scaling import (
    ScalingLaw,
    dearest_band,
    fit_scaling_laws,
    follow_law,
    law_coordinate,
)
from carbs_optimizer.observations import ObservationGroup, ObservationInBasic
from carbs_optimizer.pareto import observation_group_cost
from carbs_optimizer.spaces import Param, as_number

# Trials beyond the law's own parameter count that a fit needs: fewer and the power terms'
# floor, amplitudes and exponents trade off freely.
SPARE_TRIALS = 3
# Prior scale of a valley's slope: a parameter's search coordinate moving by this much per
# unit of a driver's coordinate (per decade, for log spaces) is a steep law already.
SLOPE_PRIOR_SCALE = 0.3
# Centers a valley's slope carries the cost-balancing fixed point through (the drivers'
# budget depends on the others only through their small cost weights).
BALANCE_ROUNDS = 4


@dataclass(frozen=True)
class Allocation:
    """The fitted joint law with what it needs to turn into a configuration at a cost."""

    params: tuple[Param, ...]  # the numeric parameters, in engine order
    drivers: tuple[int, ...]  # indices into params of the parameters cost follows
    others: tuple[int, ...]
    orientation: np.ndarray  # k: ±1, so that more of each oriented driver costs more
    cost_line: CostLine
    low: np.ndarray  # every param's lower bound in basic coordinates
    high: np.ndarray
    law: AllocationLaw
    prior: AllocationPrior
    driver_data: np.ndarray  # n x k, oriented
    other_data: np.ndarray  # n x m
    objectives: np.ndarray  # n, minimized
    trials: int
    sign: int  # +1: the study minimizes its objective, −1: it maximizes it

    def objective(self, law: AllocationLaw, cost: float) -> float:
        """The objective `law` expects of its best configuration at `cost` (every other
        parameter at its valley's center, so only the drivers' power terms remain)."""
        drivers = self.basic(law, cost)[list(self.drivers)] * self.orientation
        return self.sign * law.gain(drivers)

    def basic(self, law: AllocationLaw, cost: float, *, bounded: bool = True) -> np.ndarray:
        """Every numeric parameter's basic coordinate at `cost` under `law`: drivers at the
        allocation that spends `cost` on the cost line, the others at their valleys' centers
        there. Unbounded, the allocation may leave the space (what a user may widen)."""
        weights = self.cost_line.weights
        drivers, others = list(self.drivers), list(self.others)
        size = len(self.params)
        lo, hi = (self.low, self.high) if bounded else (
            np.full(size, -np.inf), np.full(size, np.inf))
        sign = self.orientation
        driver_low = np.where(sign > 0, lo[drivers] * sign, hi[drivers] * sign)
        driver_high = np.where(sign > 0, hi[drivers] * sign, lo[drivers] * sign)
        driver_weights = np.abs(weights[drivers])
        target = math.log10(cost) - self.cost_line.intercept
        x = law.driver_ref.copy()
        z = np.clip(law.valley_centers(x), lo[others], hi[others])
        for _ in range(BALANCE_ROUNDS):
            x = law.allocate(driver_weights, target - float(weights[others] @ z),
                             driver_low, driver_high)
            z = np.clip(law.valley_centers(x), lo[others], hi[others])
        out = np.empty(size)
        out[drivers] = x * sign
        out[others] = z
        return out

    def values(self, law: AllocationLaw, cost: float, *, bounded: bool = True) -> dict[
            str, float]:
        """`basic` as parameter values (unrounded: a caller rounds them to legal ones)."""
        coordinates = self.basic(law, cost, bounded=bounded)
        out = {}
        for param, coordinate in zip(self.params, coordinates, strict=True):
            try:
                out[param.name] = float(as_number(param.space.param_from_basic(
                    float(coordinate), is_rounded=False)))
            except OverflowError:
                out[param.name] = math.inf if coordinate > 0 else 0.0
        return out

    def refits(self, draws: Sequence[Sequence[int]]) -> list[AllocationLaw]:
        """The law refitted on each resample of the trials (the bootstrap)."""
        return bootstrap_allocation_laws(self.driver_data, self.other_data, self.objectives,
                                         self.law, self.prior, draws)


def basic_limits(param: Param) -> tuple[float, float]:
    """A parameter's bounds in basic coordinates, infinite where the space is open."""
    out = []
    for bound, fallback in ((param.space.min, -math.inf), (param.space.max, math.inf)):
        try:
            out.append(param.space.basic_from_param(bound) if math.isfinite(bound) else fallback)
        except (ValueError, OverflowError):
            out.append(fallback)
    return out[0], out[1]


def fit_allocation(
    params: Sequence[Param], basic: np.ndarray, objectives: np.ndarray, costs: np.ndarray,
    sign: int, frontier: Sequence[int], laws: Sequence[ScalingLaw],
) -> Allocation | None:
    """The joint law over n trials of the numeric `params` (d), or None (see the module):
    `fit_joint_law`'s, where it is plausible."""
    fitted = fit_joint_law(params, basic, objectives, costs, sign, frontier, laws)
    if fitted is None or not plausible(fitted.law, fitted.objectives):
        return None
    return fitted


def fit_joint_law(
    params: Sequence[Param], basic: np.ndarray, objectives: np.ndarray, costs: np.ndarray,
    sign: int, frontier: Sequence[int], laws: Sequence[ScalingLaw],
) -> Allocation | None:
    """The joint law before the plausibility check (the intervals read one it set aside).

    `basic` (n x d) holds the trials' basic coordinates, `objectives` (n) their objectives
    as measured (`sign` +1: minimized), `costs` (n) their positive costs; `frontier` the
    indices of the Pareto frontier's trials and `laws` (d) its per-parameter lines. The
    valleys shrink toward the lines (their values at the frontier's dearest band and a
    decade above it) and are anchored at that band, where the data are.
    """
    line = fit_cost_line(basic, np.log10(costs))
    if line is None or not frontier:
        return None
    d = len(params)
    drivers = line.drivers
    others = tuple(j for j in range(d) if j not in drivers)
    k, m = len(drivers), len(others)
    if len(objectives) < 1 + 2 * k + m * (k + 2) + SPARE_TRIALS:
        return None
    prior = valley_prior(params, basic, costs, frontier, laws, line.weights, drivers)
    if prior is None:
        return None
    band = [frontier[i] for i in dearest_band([float(costs[i]) for i in frontier])]
    orientation = np.where(line.weights[list(drivers)] > 0, 1.0, -1.0)
    x = basic[:, list(drivers)] * orientation
    z = basic[:, list(others)]
    y = objectives * sign
    ref = np.median(basic[band][:, list(drivers)], axis=0) * orientation
    law = fit_allocation_law(x, z, y, ref, prior, relevance(costs, y))
    if law is None:
        return None
    limits = np.array([basic_limits(p) for p in params]).reshape(d, 2)
    return Allocation(
        params=tuple(params), drivers=drivers, others=others, orientation=orientation,
        cost_line=line, low=limits[:, 0], high=limits[:, 1], law=law, prior=prior,
        driver_data=x, other_data=z, objectives=y, trials=len(y), sign=sign)


def valley_prior(
    params: Sequence[Param], basic: np.ndarray, costs: np.ndarray, frontier: Sequence[int],
    laws: Sequence[ScalingLaw], weights: np.ndarray, drivers: Sequence[int],
) -> AllocationPrior | None:
    """The valleys' prior from the frontier's own `laws` (d), for trials `basic` (n x d)
    at `costs` (n) whose frontier is `frontier` (indices) and whose cost line has `weights`
    (d): each other parameter's value where the law (or the band, see follow_law) puts it at
    the frontier's dearest band, and its change over the decade above, spread over the
    `drivers` as the cost line does (a decade of cost moves driver d by w_d / |w|² along
    its minimum-norm step). None where a law's value leaves its space.

    The law intervals' bootstrap (law_intervals.py) calls this on each resample, so that
    the prior moves with the frontier it was read from.
    """
    d = len(params)
    others = [j for j in range(d) if j not in drivers]
    band = [frontier[i] for i in dearest_band([float(costs[i]) for i in frontier])]
    reference_cost = float(np.median(costs[band]))
    prior_basic = np.empty((d, 2))  # basic coordinate at the reference cost, change per decade
    for j, (param, fitted) in enumerate(zip(params, laws, strict=True)):
        band_values = [float(as_number(param.space.param_from_basic(
            float(basic[i, j]), is_rounded=False))) for i in band]
        here = follow_law(fitted, band_values, reference_cost)
        there = follow_law(fitted, band_values, 10.0 * reference_cost)
        if here is None or there is None:
            here = there = float(np.median(band_values))
        try:
            start = param.space.basic_from_param(here)
            prior_basic[j] = (start, param.space.basic_from_param(there) - start)
        except (ValueError, OverflowError):
            return None
    driver_weights = np.abs(weights[list(drivers)])
    z = basic[:, others]
    return AllocationPrior(
        centers=prior_basic[others, 0],
        center_scales=np.maximum(z.std(0), 1e-6) if others else np.zeros(0),
        slopes=np.outer(driver_weights / float(driver_weights @ driver_weights),
                        prior_basic[others, 1]),
        slope_scale=SLOPE_PRIOR_SCALE,
    )


def plausible(law: AllocationLaw, objectives: np.ndarray) -> bool:
    """Whether the fitted law can be believed beyond its data (objectives minimized, n).

    On the shipped digits study (30 trials) the fit once ran a driver's exponent into its
    upper bound and put the floor at -27 for a cross-entropy whose trials lie in [0.1,
    2.3]: power terms that large cancel each other inside the data and say nothing
    outside it, and the prediction was a negative loss. Such a law is set aside for the
    frontier's own laws: an exponent at its bound (the data did not pin it), or a floor
    further below the best trial than twice the spread of the better nine tenths.
    """
    if bool(np.any(law.exponents >= 0.99 * MAX_EXPONENT)):
        return False
    best = float(objectives.min())
    spread = float(np.quantile(objectives, 0.9)) - best
    return law.floor >= best - 2.0 * spread


def relevance(costs: np.ndarray, objectives: np.ndarray) -> np.ndarray:
    """Each trial's weight in the joint law (n): 1 / (1 + gap / typical gap), scaled to a
    median of 1, where a trial's gap is how far its objective (minimized) lies above the
    best any trial reached at its cost or less, and the typical gap is the median of the
    positive ones.

    A valley is quadratic only near its floor: a trial far up a wall (a learning rate that
    diverged, a model starved of tokens) says where the floor lies less reliably than one
    near the frontier, and a real objective's walls are rarely symmetric. Its residual
    scale grows with its gap, so it still counts, but less.
    """
    order = np.argsort(costs, kind="stable")
    envelope = np.empty_like(objectives)
    envelope[order] = np.minimum.accumulate(objectives[order])
    gap = objectives - envelope
    positive = gap[gap > 0]
    if not positive.size:
        return np.ones(len(objectives))
    weight = 1.0 / (1.0 + gap / float(np.median(positive)))
    return np.asarray(weight / float(np.median(weight)))


def path_laws(allocation: Allocation, laws: Sequence[ScalingLaw], frontier_costs: np.ndarray,
              frontier_basic: np.ndarray) -> list[ScalingLaw]:
    """`laws` (one per numeric parameter) with each line replaced by the parameter's slope
    along the allocation's unbounded path, through its value at the frontier's dearest band
    (`fit` "joint"); `r2` is that of the frontier's points (f, f x d) about the new line.

    The path is a line in log10 cost: the drivers' split follows a power law of cost and
    each valley's center moves linearly with the drivers. Unbounded, so that a bound the
    path runs into does not bend the slope it reports (the prediction clips; a law does not).
    """
    top = path_reference_cost(frontier_costs)
    slopes, highs = path_slopes(allocation, allocation.law, top)
    x = np.log10(frontier_costs)
    out = []
    for j, (param, law) in enumerate(zip(allocation.params, laws, strict=True)):
        slope, high = float(slopes[j]), float(highs[j])
        if not (math.isfinite(slope) and math.isfinite(high)):
            out.append(law)
            continue
        intercept = high - slope * math.log10(top)
        y = law_coordinate(param, frontier_basic[:, j])
        total = float(np.sum((y - y.mean()) ** 2))
        residual = float(np.sum((y - (slope * x + intercept)) ** 2))
        out.append(replace(law, exponent=slope, intercept=intercept,
                           r2=1.0 - residual / total if total > 0 else 1.0, fit="joint"))
    return out


def path_reference_cost(frontier_costs: np.ndarray) -> float:
    """Where a path's slope is read: the median cost of the frontier's dearest band (f)."""
    return float(np.median(frontier_costs[dearest_band(list(map(float, frontier_costs)))]))


def path_slopes(allocation: Allocation, law: AllocationLaw, top: float) -> tuple[
        np.ndarray, np.ndarray]:
    """Each parameter's change in its law coordinate over the decade of cost below `top`
    along `law`'s unbounded path, and its coordinate at `top` (both d). `law` is the
    allocation's own or a bootstrap refit of it."""
    at_top = allocation.basic(law, top, bounded=False)
    below = allocation.basic(law, top / 10.0, bounded=False)
    highs = np.array([law_coordinate(p, float(v)) for p, v in zip(
        allocation.params, at_top, strict=True)])
    lows = np.array([law_coordinate(p, float(v)) for p, v in zip(
        allocation.params, below, strict=True)])
    with np.errstate(invalid="ignore"):
        return highs - lows, highs


@dataclass(frozen=True)
class ObservedAllocation:
    """The joint law fitted on an engine's successes: `allocation` over the numeric
    parameters, whose indices among all parameters are `numeric`, with the frontier's own
    `laws` (one per parameter) it was given as its prior."""

    allocation: Allocation | None
    numeric: tuple[int, ...]
    laws: list[ScalingLaw]
    # The trials the law read (n of them): numeric basic coordinates (n x numeric), costs
    # (n), and which of them are on the frontier; the law intervals resample these.
    basic: np.ndarray | None = None
    costs: np.ndarray | None = None
    frontier: tuple[int, ...] = ()


def observed_allocation(
    params: Sequence[Param], observations: Sequence[ObservationInBasic],
    frontier: Sequence[ObservationGroup], sign: int,
) -> ObservedAllocation:
    """The joint law over the engine's successes and its Pareto `frontier` (`sign` +1:
    minimized); `allocation` None where it cannot be fitted."""
    laws = fit_scaling_laws(params, frontier)
    numeric = tuple(j for j, p in enumerate(params) if not p.space.is_discrete)
    usable = [o for o in observations if o.cost > 0 and math.isfinite(o.cost)
              and math.isfinite(o.output)]
    if not numeric or not usable:
        return ObservedAllocation(None, numeric, laws)
    on_frontier = {id(o) for group in frontier for o in group}
    basic = np.array([[float(o.real_number_input[j]) for j in numeric] for o in usable])
    costs = np.array([o.cost for o in usable])
    indices = tuple(i for i, o in enumerate(usable) if id(o) in on_frontier)
    allocation = fit_allocation(
        [params[j] for j in numeric], basic, np.array([o.output for o in usable]),
        costs, sign, indices, [laws[j] for j in numeric])
    return ObservedAllocation(allocation, numeric, laws, basic, costs, indices)


def observed_scaling_laws(
    params: Sequence[Param], observations: Sequence[ObservationInBasic],
    frontier: Sequence[ObservationGroup], sign: int,
) -> list[ScalingLaw]:
    """Each parameter's law from the engine's successes and its Pareto `frontier` (`sign`
    +1: minimized): the frontier's lines, each numeric one replaced by its slope along the
    joint law's path where that law can be fitted.

    The frontier's own line reads the few trials that happen to be best at their cost, and
    its dearest points are the least tuned (a search has had the fewest tries there), so
    its slope reads flat: on Chinchilla-style studies the model-size exponent came out
    0.33-0.63 per study against an analytic 0.45-0.51. The joint law reads every trial,
    each saying which way its valleys and the compute-optimal split lie.
    """
    fitted = observed_allocation(params, observations, frontier, sign)
    if fitted.allocation is None:
        return fitted.laws
    numeric = list(fitted.numeric)
    frontier_basic = np.array([[float(g[0].real_number_input[j]) for j in numeric]
                               for g in frontier])
    joint = path_laws(fitted.allocation, [fitted.laws[j] for j in numeric],
                      np.array([observation_group_cost(g) for g in frontier]), frontier_basic)
    out = list(fitted.laws)
    for j, law in zip(numeric, joint, strict=True):
        out[j] = law
    return out
