"""The study's cost/objective frontier, as status, tables and plots show it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from carbs_operator.models import StudySpec
from carbs_operator.replay import engine_params
from carbs_operator.study import TrialRecord, direction_sign, successes
from carbs_optimizer.observations import ObservationInBasic
from carbs_optimizer.pareto import get_pareto_groups, group_observations
from carbs_optimizer.surrogate import DTYPE

# Status and tables show at most this many frontier points (the cheapest and dearest kept).
MAX_FRONTIER_POINTS = 50


def pareto_frontier(
    spec: StudySpec, trials: Sequence[TrialRecord], limit: int = MAX_FRONTIER_POINTS
) -> list[TrialRecord]:
    """Successful trials on the cost/objective frontier, by increasing cost.

    The engine's own Pareto grouping with no cheap-cost bucket: repeats of one point count
    once (its earliest trial stands for the group, carrying the group's mean objective and
    cost), and a point is on the frontier when it beats every cheaper one. Longer frontiers
    are thinned evenly to `limit` points, keeping both ends.
    """
    done = sorted(successes(trials), key=lambda t: t.index)
    if not done:
        return []
    params = engine_params(spec)
    observations = [
        ObservationInBasic(
            torch.tensor(
                [p.space.basic_from_param(float(t.params[p.name])) for p in params], dtype=DTYPE
            ),
            float(t.objective or 0.0),
            float(t.cost or 0.0),
            str(t.index),
        )
        for t in done
    ]
    by_index = {t.index: t for t in done}
    frontier = []
    for group in get_pareto_groups(group_observations(observations), 0.0, direction_sign(spec)):
        first = by_index[int(group[0].suggestion_id or 0)]
        frontier.append(replace(
            first,
            objective=sum(o.output for o in group) / len(group),
            cost=sum(o.cost for o in group) / len(group),
        ))
    if len(frontier) > limit:
        step = (len(frontier) - 1) / (limit - 1)
        frontier = [frontier[round(i * step)] for i in range(limit)]
    return frontier
