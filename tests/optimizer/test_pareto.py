"""Grouping and the Pareto frontier, plain and conservative."""

from __future__ import annotations

import torch
from hypothesis import given
from hypothesis import strategies as st

from carbs_optimizer import (
    ObservationInBasic,
    get_pareto_groups,
    get_pareto_groups_conservative,
    group_observations,
)
from carbs_optimizer.pareto import (
    noise_is_negligible,
    observation_group_cost,
    observation_group_output,
)


def obs(x: float, output: float, cost: float) -> ObservationInBasic:
    return ObservationInBasic(torch.tensor([x], dtype=torch.float64), output, cost)


def labels(groups: tuple[tuple[ObservationInBasic, ...], ...]) -> list[float]:
    return [float(g[0].real_number_input[0]) for g in groups]


def test_conservative_example_from_the_reference() -> None:
    """A{0,1}@1, B{0.6}@2, C{0.55,0.75}@3, D{0.8}@4: plain A,B,C,D; conservative A,C,D."""
    observations = [
        obs(1, 0.0, 1), obs(1, 1.0, 1), obs(2, 0.6, 2), obs(3, 0.55, 3), obs(3, 0.75, 3),
        obs(4, 0.8, 4),
    ]
    groups = group_observations(observations)
    assert labels(get_pareto_groups(groups, 0.0, 1)) == [1, 2, 3, 4]
    assert labels(get_pareto_groups_conservative(groups, 0.0, 1)) == [1, 3, 4]


def test_threshold_bucket_takes_the_best_cheap_group() -> None:
    observations = [obs(i, float(i), 1.0 + i / 100) for i in range(10)] + [obs(20, 5.0, 50)]
    groups = group_observations(observations)
    # The 0.2 quantile of costs covers the three cheapest; the best of them (i=2) leads.
    frontier = get_pareto_groups(groups, 0.2, 1)
    assert labels(frontier)[0] == 2


def test_minimisation_flips_the_comparison() -> None:
    groups = group_observations([obs(1, 3.0, 1), obs(2, 2.0, 2), obs(3, 2.5, 3)])
    assert labels(get_pareto_groups(groups, 0.0, -1)) == [1, 2]


def test_inputs_equal_after_a_round_trip_form_one_group() -> None:
    a = ObservationInBasic(torch.tensor([0.1 + 0.2], dtype=torch.float64), 1.0, 1.0)
    b = ObservationInBasic(torch.tensor([0.3], dtype=torch.float64), 2.0, 1.0)
    assert len(group_observations([a, b])) == 1


points = st.lists(
    st.tuples(st.integers(0, 15), st.floats(-10, 10), st.floats(0.01, 100)), min_size=1,
    max_size=40,
)


@given(points=points, conservative=st.booleans(), sign=st.sampled_from([1, -1]))
def test_frontier_improves_with_cost_and_dominates_the_rest(
    points: list[tuple[int, float, float]], conservative: bool, sign: int
) -> None:
    observations = [obs(x, y, c) for x, y, c in points]
    groups = group_observations(observations)
    pick = get_pareto_groups_conservative if conservative else get_pareto_groups
    frontier = pick(groups, 0.2, sign)
    assert frontier
    scores = [observation_group_output(g) * sign for g in frontier]
    costs = [observation_group_cost(g) for g in frontier]
    assert scores == sorted(scores)
    assert len(set(scores)) == len(scores)
    assert costs[1:] == sorted(costs[1:])
    if not conservative:
        threshold_bucket_best = scores[0]
        for group in groups:
            if any(g is group for g in frontier):
                continue
            score, cost = observation_group_output(group) * sign, observation_group_cost(group)
            # Every group off the frontier is matched or beaten by a frontier group that
            # costs no more (or, inside the cheap bucket, by the bucket's best).
            dominated = any(
                fc <= cost and fs >= score for fc, fs in zip(costs, scores, strict=True)
            )
            assert dominated or score <= threshold_bucket_best


def test_noise_is_negligible_against_the_frontier_steps() -> None:
    """Frontier outputs 1, 2, 3, 4 (steps of 1, maximising) with two points re-run."""
    frontier = [obs(i, float(i), float(i)) for i in range(1, 5)]
    quiet = group_observations([*frontier, obs(1, 1.01, 1), obs(2, 1.99, 2)])
    assert noise_is_negligible(quiet, 0.25, 1)  # sd 0.01 against a median step of 1
    loud = group_observations([*frontier, obs(1, 1.6, 1), obs(2, 1.4, 2)])
    assert not noise_is_negligible(loud, 0.25, 1)  # sd 0.42
    one_repeat = group_observations([*frontier, obs(1, 1.0, 1)])
    assert not noise_is_negligible(one_repeat, 0.25, 1)  # not yet measured
    short = group_observations([obs(1, 1.0, 1), obs(1, 1.0, 1), obs(2, 2.0, 2),
                                obs(2, 2.0, 2)])
    assert not noise_is_negligible(short, 0.25, 1)  # one step is no median
