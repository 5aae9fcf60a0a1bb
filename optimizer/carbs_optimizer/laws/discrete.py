"""The scaling-law report of a categorical or ordinal parameter: which value the frontier
uses in each cost band.

A line through choice indices would be meaningless (choices have no order) or misleading
(an ordinal's values need not be evenly spaced), so the report walks the frontier from
cheap to dear and starts a new band wherever the value changes: "relu up to 3e9 FLOPs,
gelu above".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from carbs_optimizer.observations import ObservationGroup
from carbs_optimizer.pareto import observation_group_cost
from carbs_optimizer.spaces import OrdinalValue, Param


@dataclass(frozen=True)
class CostBand:
    """Frontier points from `min_cost` to `max_cost` (group mean costs) all use `value`."""

    min_cost: float
    max_cost: float
    value: OrdinalValue
    points: int


def cost_bands(
    param: Param, index: int, groups: Sequence[ObservationGroup]
) -> tuple[CostBand, ...]:
    """Consecutive frontier groups, cheapest first, merged while `param` keeps its value."""
    ordered = sorted(groups, key=observation_group_cost)
    bands: list[CostBand] = []
    for group in ordered:
        cost = observation_group_cost(group)
        coordinate = float(group[0].real_number_input[index])
        value = param.space.param_from_basic(coordinate if math.isfinite(coordinate) else 0.0)
        if bands and bands[-1].value == value:
            last = bands[-1]
            bands[-1] = CostBand(last.min_cost, cost, value, last.points + 1)
        else:
            bands.append(CostBand(cost, cost, value, 1))
    return tuple(bands)
