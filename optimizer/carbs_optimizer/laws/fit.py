"""One fit of a study's laws: the joint law over every success, fitted once, and what it was
fitted on, so that every reader of the laws reads the same fit.

The per-parameter laws with their intervals (`LawFit.scaling_laws`, what
`CARBS.scaling_laws()` reports) and a scale-up prediction (the operator's, which follows
`LawFit.joint.allocation` to a cost no trial reached) both come from one `LawFit`: a law a
user reads in one place is the law the other used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from carbs_optimizer.laws.allocation import ObservedAllocation, observed_allocation
from carbs_optimizer.laws.intervals import assess_laws
from carbs_optimizer.laws.scaling import ScalingLaw
from carbs_optimizer.observations import ObservationGroup, ObservationInBasic
from carbs_optimizer.pareto import get_pareto_groups, group_observations
from carbs_optimizer.spaces import Param


@dataclass(frozen=True)
class LawFit:
    """The successes and Pareto frontier a study's laws are read from (`sign` +1: the
    objective is minimized), and the joint law fitted on them (`joint.allocation` None
    where it cannot be fitted; `joint.laws` are then the frontier's own lines)."""

    params: tuple[Param, ...]
    successes: tuple[ObservationInBasic, ...]
    frontier: tuple[ObservationGroup, ...]
    sign: int
    joint: ObservedAllocation

    def scaling_laws(self) -> list[ScalingLaw]:
        """Each parameter's law with its 80% interval and verdict (laws/intervals.py), the
        numeric ones read along `joint` where it was fitted."""
        return assess_laws(self.params, self.successes, self.frontier, self.sign,
                           fitted=self.joint)


def fit_laws(params: Sequence[Param], successes: Sequence[ObservationInBasic],
             better_direction_sign: int) -> LawFit:
    """The laws' fit over `successes` (`better_direction_sign` +1: the objective is
    maximized, as CARBSParams says).

    The frontier is every non-dominated group, with no cheap-cost bucket: the search's
    (`min_pareto_cost_fraction`) keeps the single best of the cheapest fifth, which anchors
    the search well but is rarely compute-optimal, and as the first point of a line fit it
    tilted the slopes (on the Chinchilla benchmark the model-size exponent came out 0.53
    with it against the analytic 0.45).
    """
    observed = tuple(successes)
    frontier = tuple(get_pareto_groups(group_observations(list(observed)), 0.0,
                                       better_direction_sign))
    sign = -better_direction_sign
    return LawFit(tuple(params), observed, frontier, sign,
                  observed_allocation(params, observed, frontier, sign))
