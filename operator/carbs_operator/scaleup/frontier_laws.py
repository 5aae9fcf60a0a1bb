"""The frontier's own laws, one per parameter: the scale-up prediction's fallback.

Each numeric parameter's Theil-Sen line against log10 cost over the Pareto frontier (the
laws the status reports where no joint law can be fitted, carbs_optimizer.laws). predict.py
follows them, and holds their configuration to the target cost by the trials' cost line,
when the joint law over all trials (study_laws.py) cannot be fitted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from carbs_operator.frontier import basic_coordinates
from carbs_operator.study import TrialRecord
from carbs_optimizer import ObservationInBasic, Param, as_number
from carbs_optimizer.laws import CostLine, ScalingLaw, dearest_band, fit_cost_line, fit_scaling_laws
from carbs_optimizer.laws import follow_law as scaling_follow_law


def frontier_group(params: Sequence[Param], point: TrialRecord) -> tuple[ObservationInBasic, ...]:
    """A frontier point as the one-observation group fit_scaling_laws reads. Every frontier
    point has its coordinates (frontier.pareto_frontier keeps only those that do)."""
    basic = basic_coordinates(params, point)
    if basic is None:
        raise ValueError(f"frontier point {point.index} does not fit the parameters")
    return (ObservationInBasic(torch.tensor(basic, dtype=torch.float64),
                               float(point.objective or 0.0), float(point.cost or 0.0)),)


def follow_laws(laws: Sequence[ScalingLaw], frontier: Sequence[TrialRecord],
                cost: float) -> dict[str, float | None]:
    """Each law's value at `cost`, or the median value of the frontier's dearest band where
    its slope does not stand out (carbs_optimizer.laws.follow_law)."""
    band = dearest_band([float(t.cost or 0.0) for t in frontier])
    return {law.parameter: scaling_follow_law(
        law, [float(frontier[i].params[law.parameter]) for i in band], cost) for law in laws}


def frontier_values(
    params: Sequence[Param], laws: Sequence[ScalingLaw], frontier: Sequence[TrialRecord],
    draws: Sequence[Sequence[int]], cost: float,
) -> tuple[dict[str, float | None], dict[str, list[float]]]:
    """Each parameter on its own law at `cost` (None where the law gives no finite value),
    and its values with the laws refitted on each resample of the frontier."""
    raws = follow_laws(laws, frontier, cost)
    groups = [frontier_group(params, point) for point in frontier]
    param_draws: dict[str, list[float]] = {p.name: [] for p in params}
    for draw in draws:
        refitted = fit_scaling_laws(params, [groups[i] for i in draw])
        for name, value in follow_laws(refitted, [frontier[i] for i in draw], cost).items():
            if value is not None and math.isfinite(value):
                param_draws[name].append(value)
    return raws, param_draws


def identity(value: float) -> float:
    return value


def cost_line(params: Sequence[Param], trials: Sequence[TrialRecord]) -> CostLine | None:
    """How the trials' cost follows the parameters (carbs_optimizer.laws.fit_cost_line):
    the line over the trials with a positive cost and every parameter set (basic
    coordinates in `params` order); None when it does not explain cost."""
    rows, costs = [], []
    for trial in trials:
        if trial.cost is None or not trial.cost > 0:
            continue
        basic = basic_coordinates(params, trial)
        if basic is None:
            continue
        rows.append(basic)
        costs.append(math.log10(trial.cost))
    if not rows:
        return None
    return fit_cost_line(np.asarray(rows, dtype=np.float64), np.asarray(costs, dtype=np.float64))


def cost_shifts(
    params: Sequence[Param], trials: Sequence[TrialRecord], raws: dict[str, float],
    cost: float,
) -> dict[str, Callable[[float], float]]:
    """Per numeric parameter, the move that holds the laws' configuration to `cost` (the
    trials' `cost_line`), applied alike to its value and its interval; the identity where
    the trials' costs follow no line in the parameters. Each law is fitted on its own, so
    their configuration need not cost what was asked."""
    line = cost_line(params, trials)
    moves = {p.name: 0.0 for p in params}
    if line is not None:
        basic = np.array([p.space.basic_from_param(raws[p.name]) for p in params])
        moves.update(zip([p.name for p in params], map(float, line.shift(basic, cost)),
                         strict=True))

    def mover(param: Param) -> Callable[[float], float]:
        move = moves[param.name]
        if move == 0.0:
            return identity
        return lambda value: as_number(param.space.param_from_basic(
            param.space.basic_from_param(value) + move, is_rounded=False))

    return {p.name: mover(p) for p in params}
