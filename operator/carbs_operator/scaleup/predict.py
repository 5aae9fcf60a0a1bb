"""Tune as you scale: the best hyperparameters and objective at a cost no trial reached.

Pure: (spec, trial records, cost) -> a prediction or a refusal. `carbs predict`, the
study's `status.scaleUp` and the scale-up benchmark all call `predict_scale_up`; the I/O
(reading a store or the cluster, printing, writing a manifest) lives with the callers.

The laws come from the study's one law fit (study_laws.py), the fit `status.scalingLaws`
shows. Where the trials' costs follow a line in the parameters and there are enough trials,
that fit holds a joint law over all successful trials (carbs_optimizer.laws: a power law of
returns per cost driver and a valley per other parameter, whose best configuration at C
spends exactly C), and every numeric parameter and the objective come from it. Its
intervals come from one bootstrap over trials: each resample refits the law, so the
parameters' intervals and the objective's describe the same uncertainty.

Otherwise (cost follows no line, or too few trials) each numeric parameter follows the
fit's own scaling law over the Pareto frontier, the Theil-Sen line in the parameter's search
coordinate against log10 cost that the status and `carbs frontier` then report, held to the
target cost by the trials' cost line (frontier_laws.py), and the objective a saturating
power law over the frontier (carbs_optimizer.laws.fit_objective_law), both bootstrapped
over frontier points. The objective law is fitted either way: a frontier it cannot fit is
refused. A categorical or ordinal parameter has no line to extrapolate: it takes the value
the frontier uses most in its highest cost band.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from carbs_operator.errors import CarbsOperatorError
from carbs_operator.frontier import pareto_frontier
from carbs_operator.models import Parameter, StudySpec, TrialPhase
from carbs_operator.replay import engine_space
from carbs_operator.scaleup.frontier_laws import cost_shifts, frontier_values, identity
from carbs_operator.study import TrialRecord, direction_sign
from carbs_operator.study_laws import study_law_fit
from carbs_optimizer import Param, as_number
from carbs_optimizer.laws import (
    Allocation,
    LawFit,
    ObjectiveLaw,
    ScalingLaw,
    bootstrap_law_fits,
    dearest_band,
    fit_objective_law,
)

# A law with three parameters (E, A, α) needs at least one more point than it has.
MIN_FRONTIER_POINTS = 4
# Frontier costs closer together than this give a slope that is mostly noise.
MIN_COST_DECADES = 0.5
# Improvement across the whole frontier, relative to the objective's size, below which
# there is no trend to extrapolate.
MIN_RELATIVE_GAIN = 1e-3
# Spaces with no order to fit a line through: the highest cost band's choice is kept.
BAND_SPACES = ("categorical", "ordinal")
BOOTSTRAP_RESAMPLES = 200
INTERVAL_LEVEL = 0.9
# Status refreshes the prediction on every reconcile: fewer resamples keep that cheap.
STATUS_RESAMPLES = 64
SCALE_UP_FACTOR = 10.0

ParamValue = float | int | str


class PredictionRefusedError(CarbsOperatorError, ValueError):
    """The frontier cannot support a prediction; the message says why and what to do."""


@dataclass(frozen=True)
class ScaleUpPrediction:
    """The prediction at `cost`. `extrapolation` is cost / the largest finished trial's cost.

    `beyond` names parameters whose law points outside their space, with the unclipped
    value: the prediction holds the nearest legal value, and a user scaling up may want to
    widen that bound.
    """

    cost: float
    params: dict[str, ParamValue]
    intervals: dict[str, tuple[ParamValue, ParamValue]]
    objective: float
    objective_interval: tuple[float, float]
    extrapolation: float
    law: ObjectiveLaw
    parameter_laws: tuple[ScalingLaw, ...]
    frontier_points: int
    resamples: int
    beyond: dict[str, float] = field(default_factory=dict)
    # The joint law the numeric parameters and the objective came from (None: the
    # frontier's own laws); `resamples` then counts resamples of the trials, not of the
    # frontier.
    allocation: Allocation | None = None
    # The study's law fit both came from: the one status.scalingLaws shows
    # (`law_fit.joint.allocation` is `allocation`, `law_fit.joint.laws` hold
    # `parameter_laws`).
    law_fit: LawFit | None = None

    def objective_at(self, cost: float) -> float:
        """The predicted objective at any cost, from the law the prediction used: the joint
        law's best configuration there, or the frontier's objective law."""
        if self.allocation is None:
            return self.law(cost)
        return self.allocation.objective(self.allocation.law, cost)

    def to_json(self) -> dict[str, Any]:
        """The issue's shape, exactly: cost, params, intervals, objective,
        objectiveInterval, extrapolation."""
        return {
            "cost": self.cost,
            "params": dict(self.params),
            "intervals": {name: [lo, hi] for name, (lo, hi) in self.intervals.items()},
            "objective": self.objective,
            "objectiveInterval": list(self.objective_interval),
            "extrapolation": self.extrapolation,
        }


def largest_finished_cost(trials: Sequence[TrialRecord]) -> float | None:
    """The dearest finished trial (succeeded or failed with a measured cost)."""
    costs = [t.cost for t in trials if t.phase.is_finished and t.cost is not None
             and math.isfinite(t.cost) and t.cost > 0]
    return max(costs) if costs else None


def predict_scale_up(
    spec: StudySpec, trials: Sequence[TrialRecord], cost: float, *,
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0, level: float = INTERVAL_LEVEL,
) -> ScaleUpPrediction:
    """Predicted parameters and objective at `cost`, with `level` bootstrap intervals.

    Deterministic for a given seed, so a status recomputed from unchanged trials is
    unchanged. Raises PredictionRefusedError when the frontier is too short, spans too little
    cost or is too flat to fit.
    """
    if not (math.isfinite(cost) and cost > 0):
        raise PredictionRefusedError(f"--cost must be a positive finite number (got {cost!r})")
    # In index order: the joint law is an iterative fit, and the same trials read in another
    # order (the status from memory, `carbs predict --cluster` from the API) would move its
    # last digits.
    usable = sorted((t for t in trials if _usable(t)), key=lambda t: t.index)
    frontier = pareto_frontier(spec, usable, limit=max(len(usable), 2))
    costs = [float(t.cost or 0.0) for t in frontier]
    objectives = [float(t.objective or 0.0) for t in frontier]
    _check_frontier(costs, objectives)
    sign = -direction_sign(spec)  # +1: minimized, the law falls toward its floor
    law = fit_objective_law(costs, objectives, sign)
    if law is None:
        raise PredictionRefusedError("the objective law did not converge on the frontier points")
    largest = largest_finished_cost(trials) or max(costs)

    numeric = [p for p in spec.parameters if p.space.value not in BAND_SPACES]
    fit = study_law_fit(spec, trials)
    params = [fit.params[j] for j in fit.joint.numeric]
    laws = tuple(fit.joint.laws[j] for j in fit.joint.numeric)

    rng = np.random.default_rng(seed)
    allocation = fit.joint.allocation
    param_draws: dict[str, list[float]] = {p.name: [] for p in numeric}
    if allocation is not None:
        draws = [[int(i) for i in rng.integers(0, allocation.trials, allocation.trials)]
                 for _ in range(resamples)]
        raws = allocation.values(allocation.law, cost)
        unbounded = allocation.values(allocation.law, cost, bounded=False)
        refits = allocation.refits(draws)
        for refit in refits:
            for param, coordinate in zip(params, allocation.basic(refit, cost), strict=True):
                param_draws[param.name].append(float(coordinate))
        objective_draws = [allocation.objective(refit, cost) for refit in refits]
        predicted = allocation.objective(allocation.law, cost)
        shifts: dict[str, Callable[[float], float]] = {p.name: identity for p in params}
        used = len(refits)
    else:
        draws = [[int(i) for i in rng.integers(0, len(frontier), len(frontier))]
                 for _ in range(resamples)]
        law_refits = bootstrap_law_fits(costs, objectives, law, draws)
        objective_draws = [fit(cost) for fit in law_refits]
        predicted = law(cost)
        found, param_draws = frontier_values(params, laws, frontier, draws, cost)
        raws = {}
        for name, raw in found.items():
            if raw is None:
                raise PredictionRefusedError(
                    f"the scaling law of {name} gives no finite value at cost {cost:.4g}")
            raws[name] = raw
        unbounded = raws
        shifts = cost_shifts(params, usable, raws, cost)
        used = len(law_refits)

    values: dict[str, ParamValue] = {}
    by_name = {param.name: param for param in params}
    intervals: dict[str, tuple[ParamValue, ParamValue]] = {}
    beyond: dict[str, float] = {}
    for parameter in spec.parameters:
        if parameter.space.value in BAND_SPACES:
            values[parameter.name], intervals[parameter.name] = band_choice(
                parameter, [(c, t.params.get(parameter.name)) for c, t in zip(
                    costs, frontier, strict=True)])
            continue
        shift = shifts[parameter.name]
        raw = shift(raws[parameter.name])
        value = legal_value(parameter, raw)
        outside = shift(unbounded[parameter.name])
        if legal_value(parameter, outside) != legal_value(parameter, outside, clip=False):
            beyond[parameter.name] = outside
        if allocation is None:
            lo, hi = _interval(param_draws[parameter.name], raws[parameter.name], level)
        else:
            lo, hi = _basic_interval(by_name[parameter.name], param_draws[parameter.name],
                                     raws[parameter.name], level)
        values[parameter.name] = value
        intervals[parameter.name] = (legal_value(parameter, shift(lo)),
                                     legal_value(parameter, shift(hi)))

    if not math.isfinite(predicted):
        raise PredictionRefusedError(
            f"the objective's law gives no finite value at cost {cost:.4g}, "
            f"{cost / max(costs):.3g}x the frontier's dearest point")
    low, high = _interval(objective_draws, predicted, level, symmetric=allocation is not None)
    return ScaleUpPrediction(
        cost=cost, params=values, intervals=intervals, objective=predicted,
        objective_interval=(low, high), extrapolation=cost / largest, law=law,
        parameter_laws=laws, frontier_points=len(frontier), resamples=used, beyond=beyond,
        allocation=allocation, law_fit=fit,
    )


def _usable(trial: TrialRecord) -> bool:
    values = (trial.objective, trial.cost, *trial.params.values())
    finite = all(isinstance(v, str) or (v is not None and math.isfinite(v)) for v in values)
    return finite and (trial.cost or 0.0) > 0


def _check_frontier(costs: Sequence[float], objectives: Sequence[float]) -> None:
    """Refuse, naming the number that falls short, when no law can be read off the points."""
    count = len(costs)
    if count < MIN_FRONTIER_POINTS:
        raise PredictionRefusedError(
            f"the Pareto frontier is too short: {count} point(s), a law needs at least "
            f"{MIN_FRONTIER_POINTS}; run more trials across a wider range of cost")
    decades = math.log10(max(costs) / min(costs))
    if decades < MIN_COST_DECADES:
        raise PredictionRefusedError(
            f"the Pareto frontier is too short: its costs span {decades:.2f} decades "
            f"({min(costs):.4g} to {max(costs):.4g}), a law needs at least "
            f"{MIN_COST_DECADES}; run cheaper and dearer trials")
    gain = abs(objectives[0] - objectives[-1])
    size = max(abs(objectives[0]), abs(objectives[-1]))
    if gain <= MIN_RELATIVE_GAIN * size or gain == 0.0:
        raise PredictionRefusedError(
            f"the Pareto frontier is too flat: the objective moves from {objectives[0]:.6g} "
            f"to {objectives[-1]:.6g} across {decades:.2f} decades of cost (less than "
            f"{MIN_RELATIVE_GAIN:.1%}); more compute buys nothing measurable here")


def _basic_interval(
    param: Param, draws: Sequence[float], value: float, level: float
) -> tuple[float, float]:
    """The interval of draws given in `param`'s basic coordinates, as parameter values."""
    low, high = _interval(draws, param.space.basic_from_param(value), level, symmetric=True)
    return _from_basic(param, low, -math.inf), _from_basic(param, high, math.inf)


def _from_basic(param: Param, coordinate: float, overflow: float) -> float:
    """A basic coordinate as a parameter value; `overflow` where it leaves float range
    (legal_value clips it to the bound)."""
    try:
        return float(as_number(param.space.param_from_basic(coordinate, is_rounded=False)))
    except OverflowError:
        return overflow


def _interval(
    draws: Sequence[float], point: float, level: float, *, symmetric: bool = False
) -> tuple[float, float]:
    """Percentile interval of the bootstrap draws, widened to hold the point estimate and,
    when `symmetric`, to at least the point ± z · the draws' standard deviation.

    The joint law's refits start at the full fit, and a percentile interval of a nonlinear
    fit can be lopsided, its short side shorter than the estimate's own error: the normal
    interval guards it. Draws should then be in coordinates where the error is symmetric
    (basic coordinates: log10 of a log-space value)."""
    finite = [d for d in draws if math.isfinite(d)]
    if not finite:
        return point, point
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = (float(v) for v in np.percentile(finite, [tail, 100.0 - tail]))
    if symmetric and len(finite) > 1:
        reach = NormalDist().inv_cdf(0.5 + level / 2.0) * float(np.std(finite, ddof=1))
        low, high = min(low, point - reach), max(high, point + reach)
    return min(low, point), max(high, point)


def legal_value(parameter: Parameter, value: float, *, clip: bool = True) -> float | int:
    """The nearest value the parameter's space allows: inside its bounds (unless `clip` is
    off), on its step grid, a whole multiple of its rounding factor for an integer. The
    rounding is the engine's own, so a prediction is a value a trial could have had."""
    space = engine_space(parameter)
    if clip:
        value = min(max(value, space.min), space.max)
    rounded = as_number(space.param_from_basic(space.basic_from_param(value)))
    unit = space.rounding_factor if space.is_integer else space.step
    if clip and unit is not None:
        while rounded > space.max and rounded - unit >= space.min:
            rounded = as_number(space.param_from_basic(space.basic_from_param(rounded - unit)))
        while rounded < space.min and rounded + unit <= space.max:
            rounded = as_number(space.param_from_basic(space.basic_from_param(rounded + unit)))
    return round(rounded) if space.is_integer else float(rounded)


def band_choice(
    parameter: Parameter, points: Sequence[tuple[float, object]]
) -> tuple[ParamValue, tuple[ParamValue, ParamValue]]:
    """The value a categorical or ordinal parameter takes: the one the frontier uses most in
    its highest cost band (ties go to the dearest point's value).

    `points` are (cost, value) pairs of the frontier. The interval is the band's lowest and
    highest value in the space's order for an ordinal parameter; a categorical value has
    no order, so its interval is the chosen value at both ends.
    """
    ranked = sorted(((c, v) for c, v in points if isinstance(v, int | float | str)),
                    key=lambda pair: pair[0])
    if not ranked:
        raise PredictionRefusedError(f"no frontier point has a value for {parameter.name}")
    band = [ranked[i] for i in dearest_band([c for c, _ in ranked])]
    counts = Counter(v for _, v in band)
    top = max(counts.values())
    chosen: ParamValue = next(v for _, v in reversed(band) if counts[v] == top)
    order: Sequence[object] = getattr(parameter, "values", None) or []
    if parameter.space.value == "ordinal" and order:
        rank = {v: i for i, v in enumerate(order) if isinstance(v, int | float | str)}
        used = sorted({v for _, v in band}, key=lambda v: rank.get(v, 0))
        return chosen, (used[0], used[-1])
    return chosen, (chosen, chosen)


def scale_up_cost(trials: Sequence[TrialRecord], factor: float = SCALE_UP_FACTOR) -> float | None:
    """The cost status.scaleUp predicts at: `factor` x the largest finished trial's cost."""
    largest = largest_finished_cost(trials)
    return None if largest is None else factor * largest


# Reconciles and metric updates recompute on every trial event, most of which (a trial
# starting) leave the finished trials as they were: the last predictions are kept, keyed
# by everything they depend on.
_SCALE_UPS: OrderedDict[tuple[object, ...], ScaleUpPrediction | None] = OrderedDict()
_LOG = logging.getLogger(__name__)
_SCALE_UPS_LOCK = threading.Lock()
_SCALE_UPS_KEPT = 64


def scale_up_prediction(
    spec: StudySpec, trials: Sequence[TrialRecord], factor: float = SCALE_UP_FACTOR
) -> ScaleUpPrediction | None:
    """The prediction at `factor` x the largest finished trial's cost, as status.scaleUp
    and the metrics show it; None while the frontier cannot support one."""
    cost = scale_up_cost(trials, factor)
    if cost is None:
        return None
    key = (spec.model_dump_json(include={"objective", "parameters"}), cost, tuple(
        (t.index, t.objective, t.cost, tuple(sorted(t.params.items())))
        for t in trials if t.phase == TrialPhase.SUCCEEDED))
    with _SCALE_UPS_LOCK:
        if key in _SCALE_UPS:
            _SCALE_UPS.move_to_end(key)
            return _SCALE_UPS[key]
    try:
        found: ScaleUpPrediction | None = predict_scale_up(
            spec, trials, cost, resamples=STATUS_RESAMPLES)
    except PredictionRefusedError:
        found = None
    except (ArithmeticError, np.linalg.LinAlgError) as error:
        # The prediction is a view of the trials, not part of them: a numerical failure on
        # some user's data (an overflow was seen once on the digits study; a singular
        # system in a fit) must not stop the runner or the operator that refreshes it.
        # `carbs predict` still raises it. Anything else is a bug and is raised.
        _LOG.warning("scale-up prediction failed at cost %.3g: %r", cost, error)
        found = None
    with _SCALE_UPS_LOCK:
        _SCALE_UPS[key] = found
        while len(_SCALE_UPS) > _SCALE_UPS_KEPT:
            _SCALE_UPS.popitem(last=False)
    return found


# The dashboard's law panel: the law and the frontier at these multiples of the largest
# finished trial's cost (a fixed grid keeps the metric's series bounded).
CURVE_MULTIPLES = ("0.001", "0.01", "0.1", "0.3", "1", "3", "10")
CURVES = ("law", "frontier", "low", "high")


def law_curve(
    prediction: ScaleUpPrediction, frontier: Sequence[TrialRecord]
) -> dict[tuple[str, str], float]:
    """(cost multiple, curve) -> objective, for curves "law" (the fitted law), "frontier"
    (the best objective a trial reached at or under that cost; absent above the dearest
    point and below the cheapest) and, at the prediction's own multiple, "low" and "high"
    (its interval)."""
    largest = prediction.cost / prediction.extrapolation
    points = sorted((float(t.cost or 0.0), float(t.objective or 0.0)) for t in frontier)
    out: dict[tuple[str, str], float] = {}
    for multiple in CURVE_MULTIPLES:
        cost = float(multiple) * largest
        out[(multiple, "law")] = prediction.objective_at(cost)
        reached = [objective for point_cost, objective in points if point_cost <= cost * 1.000001]
        if reached and cost <= points[-1][0] * 1.000001:
            out[(multiple, "frontier")] = reached[-1]
        if math.isclose(float(multiple), prediction.extrapolation, rel_tol=1e-6):
            out[(multiple, "low")], out[(multiple, "high")] = prediction.objective_interval
    return out
