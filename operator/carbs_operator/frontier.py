"""The study's cost/objective frontier: which successful trials no cheaper one beats, and a
trial's point in the engine's coordinates (`basic_coordinates`, the one conversion every
operator module uses).

Pure (no rich, no matplotlib): the operator imports it. Tables and plots live in reports/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from carbs_operator.models import StudySpec
from carbs_operator.replay import engine_params
from carbs_operator.study import TrialRecord, direction_sign, successes
from carbs_optimizer import ObservationInBasic, Param, get_pareto_groups, group_observations

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
        ObservationInBasic(torch.tensor(basic, dtype=torch.float64), float(t.objective or 0.0),
                           float(t.cost or 0.0), str(t.index))
        for t in done
        if (basic := basic_coordinates(params, t)) is not None
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


def basic_coordinates(params: Sequence[Param], trial: TrialRecord) -> list[float] | None:
    """A trial's point in the engine's basic coordinates, in `params` order, as the engine
    reads it (`Param.space.basic_from_param`); None for a record that does not fit the
    parameters (one missing, or a value its space cannot hold): a report or a fit skips it
    rather than failing."""
    try:
        return [p.space.basic_from_param(trial.params[p.name]) for p in params]
    except (KeyError, ValueError):
        return None
