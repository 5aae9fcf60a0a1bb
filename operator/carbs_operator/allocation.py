"""The joint path of a scale-up prediction: every numeric parameter from one law over all
trials (carbs_optimizer.allocation_law), held to the target cost by the trials' cost line.

predict.py calls `fit_allocation` first and falls back to the frontier's per-parameter laws
when it returns None: when cost follows no line in the parameters (nothing says which
parameters buy compute), or when there are too few trials for the law's parameters.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from carbs_operator.cost_model import CostModel, fit_cost_model
from carbs_operator.frontier_laws import dearest_band, follow_law
from carbs_operator.models import Parameter
from carbs_operator.replay import engine_space
from carbs_operator.study import TrialRecord
from carbs_optimizer import Param, ScalingLaw
from carbs_optimizer.allocation_law import (
    MAX_EXPONENT,
    AllocationLaw,
    AllocationPrior,
    bootstrap_allocation_laws,
    fit_allocation_law,
)
from carbs_optimizer.spaces import as_number

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
    cost_model: CostModel
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
        weights = np.array([self.cost_model.weights[self.params[j].name] for j in range(
            len(self.params))])
        drivers, others = list(self.drivers), list(self.others)
        lo, hi = (self.low, self.high) if bounded else (
            np.full(len(self.params), -np.inf), np.full(len(self.params), np.inf))
        sign = self.orientation
        driver_low = np.where(sign > 0, lo[drivers] * sign, hi[drivers] * sign)
        driver_high = np.where(sign > 0, hi[drivers] * sign, lo[drivers] * sign)
        driver_weights = np.abs(weights[drivers])
        target = math.log10(cost) - self.cost_model.intercept
        x = law.driver_ref.copy()
        z = np.clip(law.valley_centers(x), lo[others], hi[others])
        for _ in range(BALANCE_ROUNDS):
            x = law.allocate(driver_weights, target - float(weights[others] @ z),
                             driver_low, driver_high)
            z = np.clip(law.valley_centers(x), lo[others], hi[others])
        out = np.empty(len(self.params))
        out[drivers] = x * sign
        out[others] = z
        return out

    def values(self, law: AllocationLaw, cost: float, *, bounded: bool = True) -> dict[
            str, float]:
        """`basic` as parameter values (unrounded: legal_value rounds them)."""
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


def fit_allocation(
    params: Sequence[Param], trials: Sequence[TrialRecord], sign: int,
    cost_model: CostModel | None, prior_basic: dict[str, tuple[float, float]],
    bounds: dict[str, tuple[float, float]], reference: dict[str, float],
) -> Allocation | None:
    """The joint law over `trials` (finite, succeeded), or None when it cannot be fitted.

    `sign` is +1 for a minimized objective. `prior_basic` maps every numeric parameter to
    its frontier law's (basic coordinate at the reference cost, change per decade of cost),
    the prior the valleys shrink toward; `bounds` to its space's basic bounds; `reference`
    holds the drivers' basic coordinates the valleys' centers are anchored at (the dear end
    of the frontier, where the data are).
    """
    if cost_model is None:
        return None
    names = [p.name for p in params]
    drivers = tuple(i for i, name in enumerate(names) if name in cost_model.drivers)
    others = tuple(i for i in range(len(params)) if i not in drivers)
    k, m = len(drivers), len(others)
    if not drivers or len(trials) < 1 + 2 * k + m * (k + 2) + SPARE_TRIALS:
        return None
    basic = np.array([[p.space.basic_from_param(float(t.params[p.name])) for p in params]
                      for t in trials], dtype=np.float64)
    orientation = np.array([1.0 if cost_model.weights[names[j]] > 0 else -1.0
                            for j in drivers])
    driver_weights = np.array([abs(cost_model.weights[names[j]]) for j in drivers])
    x = basic[:, list(drivers)] * orientation
    z = basic[:, list(others)]
    y = np.array([float(t.objective or 0.0) for t in trials]) * sign
    ref = np.array([reference[names[j]] for j in drivers]) * orientation
    # The frontier law's change per decade of cost, spread over the drivers as the cost
    # line does (a decade of cost moves driver d by w_d / |w|² along its minimum-norm step).
    per_decade = np.array([prior_basic[names[j]][1] for j in others])
    prior = AllocationPrior(
        centers=np.array([prior_basic[names[j]][0] for j in others]),
        center_scales=np.maximum(z.std(0), 1e-6) if m else np.zeros(0),
        slopes=np.outer(driver_weights / float(driver_weights @ driver_weights), per_decade),
        slope_scale=SLOPE_PRIOR_SCALE,
    )
    law = fit_allocation_law(x, z, y, ref, prior, relevance(
        np.array([float(t.cost or 0.0) for t in trials]), y))
    if law is None or not plausible(law, y):
        return None
    low = np.array([bounds[name][0] for name in names])
    high = np.array([bounds[name][1] for name in names])
    return Allocation(
        params=tuple(params), drivers=drivers, others=others, orientation=orientation,
        cost_model=cost_model, low=low, high=high, law=law, prior=prior, driver_data=x,
        other_data=z, objectives=y, trials=len(trials), sign=sign)


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


def allocation_for(
    parameters: Sequence[Parameter], params: Sequence[Param], trials: Sequence[TrialRecord],
    frontier: Sequence[TrialRecord], laws: Sequence[ScalingLaw], sign: int,
) -> Allocation | None:
    """The joint law over `trials` for the numeric `parameters` (their engine `params`),
    with the frontier's `laws` as its prior, anchored at the frontier's dearest band; None
    where it cannot be fitted (the caller then follows the frontier laws)."""
    if not params:
        return None
    band = dearest_band(frontier)
    reference_cost = float(np.median([float(t.cost or 0.0) for t in band]))
    prior: dict[str, tuple[float, float]] = {}
    for param, fitted in zip(params, laws, strict=True):
        here = follow_law(fitted, frontier, reference_cost)
        there = follow_law(fitted, frontier, 10.0 * reference_cost)
        if here is None or there is None:
            here = there = float(np.median([float(t.params[param.name]) for t in band]))
        try:
            start = param.space.basic_from_param(here)
            prior[param.name] = (start, param.space.basic_from_param(there) - start)
        except (ValueError, OverflowError):
            return None
    reference = {p.name: float(np.median([p.space.basic_from_param(float(t.params[p.name]))
                                          for t in band])) for p in params}
    bounds = {parameter.name: _basic_bounds(param, parameter)
              for param, parameter in zip(params, parameters, strict=True)}
    return fit_allocation(params, trials, sign, fit_cost_model(params, trials), prior,
                          bounds, reference)


def _basic_bounds(param: Param, parameter: Parameter) -> tuple[float, float]:
    """A parameter's bounds in basic coordinates, infinite where the space is open."""
    space = engine_space(parameter)
    out = []
    for bound, fallback in ((space.min, -math.inf), (space.max, math.inf)):
        try:
            out.append(param.space.basic_from_param(bound) if math.isfinite(bound) else fallback)
        except (ValueError, OverflowError):
            out.append(fallback)
    return out[0], out[1]
