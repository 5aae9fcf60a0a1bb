"""The study's cost/objective frontier: which successful trials no cheaper one beats.

Pure (no rich, no matplotlib): the operator imports it. Tables and plots live in reports/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from carbs_operator.models import StudySpec
from carbs_operator.replay import engine_params
from carbs_operator.study import TrialRecord, direction_sign, successes
from carbs_optimizer import Param
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
        ObservationInBasic(basic, float(t.objective or 0.0), float(t.cost or 0.0), str(t.index))
        for t in done
        if (basic := _basic(params, t)) is not None
    ]
    if not observations:
        return []
    by_index = {t.index: t for t in done}
    frontier = []
    for group in get_pareto_groups(group_observations(observations), 0.0, direction_sign(spec)):
        first = by_index[int(group[0].suggestion_id or 0)]
        frontier.append(replace(
            first,
            objective=sum(o.output for o in group) / len(group),
            cost=sum(o.cost for o in group) / len(group),
        ))
    return thin_frontier(frontier, limit)


def thin_frontier(frontier: Sequence[TrialRecord], limit: int = MAX_FRONTIER_POINTS
                  ) -> list[TrialRecord]:
    """At most `limit` points, evenly spread along the frontier, both ends kept."""
    if len(frontier) <= limit:
        return list(frontier)
    step = (len(frontier) - 1) / (limit - 1)
    return [frontier[round(i * step)] for i in range(limit)]


def _basic(params: Sequence[Param], trial: TrialRecord) -> torch.Tensor | None:
    """A trial's point in basic coordinates; None for a record that does not fit the
    parameters (a report skips it rather than failing)."""
    try:
        values = [p.space.basic_from_param(trial.params[p.name]) for p in params]
    except (KeyError, ValueError):
        return None
    return torch.tensor(values, dtype=DTYPE)
