"""Scaling laws: how each hyperparameter's best value moves with compute along the frontier.

The paper's promise is "scaling laws for every hyperparameter": fit each parameter's
coordinate against log10(cost) over the Pareto groups. For a log-space parameter the slope is
an exponent (value ∝ cost^slope); for a linear one, a change per decade of cost; for a logit
one, a change in log10-odds per decade.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, overload

import numpy as np
from scipy.stats import theilslopes

from carbs_optimizer.laws.discrete import CostBand, cost_bands
from carbs_optimizer.observations import ObservationGroup
from carbs_optimizer.pareto import observation_group_cost
from carbs_optimizer.spaces import LinearSpace, LogitSpace, Param

#: Above this many frontier points a law is fitted on an evenly spaced subset of them.
_THEIL_SEN_MAX_POINTS = 64
#: The frontier's highest cost band: this dearest fraction of its points (at least one).
BAND_FRACTION = 1.0 / 3.0
#: A slope whose t statistic (slope / its standard error) falls below this is not
#: extrapolated (see follow_law); 2 is about the 95% two-sided level for 10+ points.
MIN_SLOPE_T = 2.0


class LawVerdict(StrEnum):
    """What a law's interval and the frontier allow a reader to conclude, in words.

    LAW: the exponent's interval excludes 0, so the parameter's best value moves with compute.
    NO_LAW: the interval holds 0; the parameter does not scale with compute, and the value the
    frontier uses is the answer (`ScalingLaw.held_value`).
    SATURATED: the objective stops improving with cost past `ScalingLaw.saturation_cost`; no
    law extrapolates beyond it, whatever its interval.
    TOO_FEW: the trials cannot pin a line (too few frontier points, or resamples that fail).
    """

    LAW = "law"
    NO_LAW = "no law"
    SATURATED = "saturated"
    TOO_FEW = "too few trials"


VERDICT_LAW = LawVerdict.LAW.value
VERDICT_NO_LAW = LawVerdict.NO_LAW.value
VERDICT_SATURATED = LawVerdict.SATURATED.value
VERDICT_TOO_FEW = LawVerdict.TOO_FEW.value


@dataclass(frozen=True)
class ScalingLaw:
    """coordinate(value) ≈ exponent · log10(cost) + intercept over `points` frontier groups.

    coordinate is log10(value) for log spaces, the value for linear ones and log10-odds for
    logit ones. `exponent` and `intercept` are None with fewer than two distinct costs.
    """

    parameter: str
    space: str
    exponent: float | None
    intercept: float | None
    r2: float | None
    points: int
    # For a categorical or ordinal parameter, in place of a line: the value the frontier
    # uses in each cost band, cheapest first; `exponent` is then None.
    bands: tuple[CostBand, ...] | None = None
    # "frontier": the line through the frontier's points; "joint": the compute-optimal path
    # of one law over every trial (allocation.py), with `r2` that of the frontier's points
    # about it.
    fit: str = "frontier"
    # An 80% interval (low, high) of `exponent` (law_intervals.py); None where no line was
    # fitted, or where the law was fitted without its uncertainty (fit_scaling_laws alone).
    exponent_interval: tuple[float, float] | None = None
    # One of the VERDICT_* strings (LawVerdict): what the interval allows one to conclude.
    verdict: str = VERDICT_TOO_FEW
    # For "no law": the value the frontier uses (the median of its dearest band).
    held_value: float | None = None
    # For "saturated": the cost past which the objective stops improving.
    saturation_cost: float | None = None

    def predict(self, cost: float) -> float | None:
        """The parameter value the law predicts at `cost` (None when not fitted, or when a
        steep law extrapolated far overflows a float: no value, rather than an error)."""
        if self.exponent is None or self.intercept is None:
            return None
        coordinate = float(self.exponent * math.log10(cost) + self.intercept)
        try:
            if self.space == "linear":
                return coordinate
            if self.space == "logit":
                return 1.0 / (1.0 + math.pow(10.0, -coordinate))
            return math.pow(10.0, coordinate)
        except OverflowError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_scaling_laws(
    params: Sequence[Param], groups: Sequence[ObservationGroup]
) -> list[ScalingLaw]:
    """A robust line of each parameter's coordinate against log10(group mean cost)."""
    x = np.array([math.log10(observation_group_cost(g)) for g in groups], dtype=np.float64)
    # One copy of the groups' inputs (g x d), not one tensor lookup per group and parameter:
    # the operator refits these laws on every bootstrap draw of a frontier of thousands.
    basic = (np.stack([g[0].real_number_input.numpy() for g in groups]).astype(np.float64)
             if groups else np.zeros((0, len(params))))
    laws = []
    for index, param in enumerate(params):
        if param.space.is_discrete:
            bands = cost_bands(param, index, groups)
            laws.append(ScalingLaw(param.name, param.space.kind, None, None, None, len(x), bands))
            continue
        laws.append(fit_line(param, x, law_coordinate(param, basic[:, index])))
    return laws


@overload
def law_coordinate(param: Param, basic: float) -> float: ...


@overload
def law_coordinate(param: Param, basic: np.ndarray) -> np.ndarray: ...


def law_coordinate(param: Param, basic: float | np.ndarray) -> float | np.ndarray:
    """Basic coordinates (one, or an array) in the law's coordinate (log10 value, value or
    log10-odds)."""
    unscaled = basic * param.space.scale
    if isinstance(param.space, LinearSpace | LogitSpace):
        return unscaled
    base = getattr(param.space, "base", 10)
    return unscaled * math.log10(base)


def fit_line(param: Param, x: np.ndarray, y: np.ndarray) -> ScalingLaw:
    """The Theil-Sen line of law coordinates `y` against log10 costs `x` (both f)."""
    points = len(x)
    if points < 2 or float(np.ptp(x)) == 0.0:
        return ScalingLaw(param.name, param.space.kind, None, None, None, points)
    # Theil-Sen (the median of pairwise slopes), not least squares: a frontier holds a few
    # points that are on it only because nothing better was tried at their cost (a bad
    # learning rate at a fresh cost level), and one of them at either end tilts a
    # least-squares line. Theil-Sen ignores up to ~29% of such points.
    # Its cost is quadratic in the points (every pair), and a study of thousands of trials
    # can have a frontier of hundreds: fit an evenly spaced subset along the cost axis.
    order = np.arange(points)
    if points > _THEIL_SEN_MAX_POINTS:
        keep = np.unique(np.linspace(0, points - 1, _THEIL_SEN_MAX_POINTS).round().astype(int))
        order = np.argsort(x, kind="stable")[keep]
    with np.errstate(invalid="ignore"):  # its confidence interval (unused) at 2-3 points
        slope, intercept, _, _ = theilslopes(y[order], x[order])
    residual = float(np.sum((y - (slope * x + intercept)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else 1.0
    return ScalingLaw(param.name, param.space.kind, float(slope), float(intercept), r2, points)


def dearest_band(costs: Sequence[float]) -> list[int]:
    """Indices of the frontier's highest cost band: its dearest BAND_FRACTION of points."""
    ranked = sorted(range(len(costs)), key=lambda i: costs[i])
    return ranked[-max(1, math.ceil(len(ranked) * BAND_FRACTION)):]


def follow_law(law: ScalingLaw, band_values: Sequence[float], cost: float) -> float | None:
    """The law's value at `cost` when its slope stands out from the frontier's scatter;
    otherwise the median of `band_values`, the parameter's values in the frontier's highest
    cost band.

    A parameter that barely matters (a nuisance such as warmup) wanders along the frontier;
    its fitted slope is noise, and a decade of extrapolation carries that noise into a
    bound. Holding it where the dearest trials have it is the honest prediction.
    """
    if law.r2 is None or law.points <= 2:
        return law.predict(cost)
    if law.r2 >= 1.0 or law.r2 * (law.points - 2) / (1.0 - law.r2) >= MIN_SLOPE_T**2:
        return law.predict(cost)
    return float(np.median(band_values))
