"""Grouping of repeated inputs and the cost/output Pareto frontier over the groups.

All functions are pure. Outputs are compared as `output * better_direction_sign`, so
"higher is better" holds inside whatever the user's direction is.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from carbs_optimizer.observations import ObservationGroup, ObservationInBasic

# Inputs equal to this many decimals in basic space are one group. A resample returns the
# very same coordinates; a param -> basic round trip perturbs them only near 1e-15.
_GROUP_DECIMALS = 9


def group_key(observation: ObservationInBasic) -> tuple[float, ...]:
    rounded = np.round(observation.real_number_input.detach().cpu().numpy(), _GROUP_DECIMALS)
    return tuple(float(v) + 0.0 for v in rounded)  # + 0.0 folds -0.0 into 0.0


def group_observations(observations: Sequence[ObservationInBasic]) -> tuple[ObservationGroup, ...]:
    """Groups by equal input, in order of first appearance (linear time, unlike the reference)."""
    groups: dict[tuple[float, ...], list[ObservationInBasic]] = {}
    for observation in observations:
        groups.setdefault(group_key(observation), []).append(observation)
    return tuple(tuple(members) for members in groups.values())


def observation_group_cost(group: Sequence[ObservationInBasic]) -> float:
    return sum(obs.cost for obs in group) / len(group)


def observation_group_output(group: Sequence[ObservationInBasic]) -> float:
    return sum(obs.output for obs in group) / len(group)


def _min_pareto_cost(groups: Sequence[ObservationGroup], fraction: float) -> float:
    costs = np.array([obs.cost for group in groups for obs in group], dtype=np.float64)
    return float(np.quantile(costs, fraction))


def _frontier(
    groups: Sequence[ObservationGroup],
    min_pareto_cost_fraction: float,
    better_direction_sign: int,
    conservative: bool,
) -> tuple[ObservationGroup, ...]:
    if not groups:
        return ()
    sign = better_direction_sign

    def mean_score(group: ObservationGroup) -> float:
        return observation_group_output(group) * sign

    def max_score(group: ObservationGroup) -> float:
        return max(obs.output * sign for obs in group)

    # The quantile is over single costs but groups compare by mean cost, so the cheap bucket
    # can come out empty (the reference then crashed in max()); it always holds the cheapest.
    threshold = max(
        _min_pareto_cost(groups, min_pareto_cost_fraction),
        min(observation_group_cost(g) for g in groups),
    )
    cheap = [g for g in groups if observation_group_cost(g) <= threshold]
    if conservative:
        # Under the threshold, trust repeated measurements over a lucky single one.
        resampled = [g for g in cheap if len(g) > 1]
        cheap = resampled or cheap
    first = max(cheap, key=mean_score)
    rest = sorted(
        (g for g in groups if observation_group_cost(g) > threshold), key=observation_group_cost
    )
    frontier: list[ObservationGroup] = [first]
    best_mean, best_max = mean_score(first), max_score(first)
    for group in rest:
        score = mean_score(group)
        if conservative and len(group) == 1:
            # A single sample must beat everything measured at the previous frontier point,
            # which keeps one noisy draw from becoming a search origin.
            improved = score > best_max
        else:
            improved = score > best_mean
        if improved:
            frontier.append(group)
            best_mean, best_max = score, max_score(group)
    return tuple(frontier)


def get_pareto_groups(
    grouped_observations: Sequence[ObservationGroup],
    min_pareto_cost_fraction: float,
    better_direction_sign: int,
) -> tuple[ObservationGroup, ...]:
    """The frontier by increasing cost: the best group among the cheapest `fraction` of
    costs, then each dearer group whose mean beats every cheaper frontier group."""
    return _frontier(grouped_observations, min_pareto_cost_fraction, better_direction_sign, False)


def get_pareto_groups_conservative(
    grouped_observations: Sequence[ObservationGroup],
    min_pareto_cost_fraction: float,
    better_direction_sign: int,
) -> tuple[ObservationGroup, ...]:
    """Like `get_pareto_groups`, but a single-sample group must beat the previous frontier
    group's best sample, and resampled groups are preferred below the cost threshold."""
    return _frontier(grouped_observations, min_pareto_cost_fraction, better_direction_sign, True)


def pareto_area_from_groups(groups: Sequence[ObservationGroup]) -> float:
    """Area under the frontier's step curve (the reference's `pareto_area` log figure)."""
    if len(groups) < 2:
        return 0.0
    total = 0.0
    last_cost, last_output = observation_group_cost(groups[0]), observation_group_output(groups[0])
    for group in groups[1:]:
        cost, output = observation_group_cost(group), observation_group_output(group)
        total += (cost - last_cost) * last_output
        last_cost, last_output = cost, output
    return total


def noise_is_negligible(
    groups: Sequence[ObservationGroup], ratio: float, better_direction_sign: int
) -> bool:
    """True when the noise measured on repeated inputs (pooled standard deviation) is under
    `ratio` times the median output step between adjacent strict-frontier groups: a
    re-run could not reorder such a frontier. False until two inputs have been repeated
    (no measurement) or the frontier has three groups; as the frontier fills in, its steps
    shrink and this turns False again.
    """
    repeated = [g for g in groups if len(g) > 1]
    if len(repeated) < 2:
        return False
    squares = sum((o.output - observation_group_output(g)) ** 2 for g in repeated for o in g)
    noise_sd = math.sqrt(squares / sum(len(g) - 1 for g in repeated))
    front = get_pareto_groups(groups, 0.0, better_direction_sign)
    steps = sorted(
        abs(observation_group_output(a) - observation_group_output(b))
        for a, b in itertools.pairwise(front)
    )
    return len(steps) >= 2 and noise_sd < ratio * steps[len(steps) // 2]
