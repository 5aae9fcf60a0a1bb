"""Spreading suggestions along the cost axis.

CARBS's expected improvement, clamped by the frontier at a random higher cost, pushes the
search toward ever dearer trials and never back down. Measured on Chinchilla-style problems
that push is both too weak and one-sided: from a cheap search center a study could spend its
60 trials within one decade of cost, and from a mid-range center it never measured anything
cheaper than the center, leaving the cheap half of the frontier empty.

Protein (PufferLib's successor to CARBS) fixes the first half by drawing, for every
suggestion, a target position on the observed log-cost range from a shuffled bag of evenly
spaced values, and favouring candidates whose predicted cost is near it. We do the same,
with two changes found by measurement:

- The bag reaches past both ends of the observed range (by ``margin`` of its span, and by at
  least a fixed step in log cost), so the frontier grows downward as well as upward.
- The target restricts the choice to the candidates predicted (nearly) as close to it as
  any candidate comes, and expected improvement decides among those. A multiplicative
  weight, as in Protein, is drowned by expected improvement, whose logarithm spans tens of
  units between candidates.

Filling (``fill_position``): the bag spreads targets evenly, but the trials are not spread
evenly. The random phase and the first steps pile up around the search center, so from a
cheap center a study kept refining its crowded cheap end with four of every six targets:
measured on the suite's Chinchilla problems, 32-37 of 60 trials ended below the first compute
level that matters. Every other interior slot of the bag (the ones past the ends stay) now
goes to the part of the observed range with the fewest trials for its share, so a crowded
region gives way to an empty one. Only every other: where the crowd sits on a steep part of
the frontier (the digits MLP's cheap end), giving all interior slots to the empty parts left
the cheap end half-tuned. A target past the dearest success while no candidate may cost
more (the cost cap, or the growth limit) is filled too: the window would otherwise pick the
dearest candidates each time, and a tenth of a mid-center study's trials piled up under
its cap.

Targets are a pure function of (seed, suggestion index) and the costs observed so far, so a
study replayed from its trial records draws the same ones.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

#: Bag size: one target per suggestion, each value once per cycle of this many.
BAG_SIZE = 6


def target_position(seed: int, index: int, margin: float) -> float:
    """The target of the ``index``-th suggestion as a position on the observed log-cost
    range (0 = cheapest observed success, 1 = dearest), from ``-margin`` to ``1 + margin``.

    Each cycle of ``BAG_SIZE`` suggestions visits evenly spaced positions in a shuffled
    order (a seeded permutation per cycle).
    """
    cycle, slot = divmod(index, BAG_SIZE)
    order = list(range(BAG_SIZE))
    random.Random(f"{seed}:{cycle}").shuffle(order)  # noqa: S311 - not for security
    step = (1.0 + 2.0 * margin) / (BAG_SIZE - 1)
    return -margin + order[slot] * step


@dataclass(frozen=True)
class CostTarget:
    """One suggestion's cost target: its `position` on the observed log-cost range [low,
    high] (past either end outside [0, 1]), whether filling chose it, the target itself in
    natural log cost, and the half-width of the window around it. Drawn once per
    suggestion: the path origin placed before the candidates and the window applied after
    them must aim at the same cost."""

    position: float
    low: float
    high: float
    filled: bool
    log_cost: float
    tolerance: float


def target_logcost(position: float, low: float, high: float, min_step: float) -> float:
    """The target in natural log cost. Beyond the observed range the distance is at least
    ``min_step``: a study whose costs all lie close together must still be able to move."""
    span = high - low
    if position < 0.0:
        return low - max(-position * span, min_step)
    if position > 1.0:
        return high + max((position - 1.0) * span, min_step)
    return low + position * span


def window_mask(predicted_logcost: Tensor, target: float, tolerance: float) -> Tensor:
    """m booleans: the candidates whose predicted log cost comes within ``tolerance`` of
    the closest approach any candidate makes to ``target``.

    When the target is within reach this is a band around it; when it is not (a target
    past the frontier's end, further than one search step goes), it is the band at the
    extreme, so the step is taken in full. A window by count would let expected
    improvement, which prefers the dearer (better-predicted) members, pick its least
    extreme member every time: measured, the cheap end of a frontier then crept down by a
    few percent per suggestion.
    """
    distance = (predicted_logcost - target).abs()
    return distance <= distance.min() + tolerance


def fill_position(log_costs: Sequence[float], low: float, high: float, bins: int,
                  tie: float = 0.0) -> float:
    """The position on [0, 1] of the middle of the bin most short of trials: the observed
    log-cost range cut into ``bins`` equal bins; the bin with the fewest trials wins.
    ``tie`` in [0, 1) picks among equal bins, so ties do not always go to the cheapest.
    Costs outside the range count in the end bins."""
    if bins < 1 or not high > low:
        return 0.5
    counts = [0] * bins
    for value in log_costs:
        index = int((value - low) / (high - low) * bins)
        counts[min(max(index, 0), bins - 1)] += 1
    fewest = min(counts)
    choices = [b for b, count in enumerate(counts) if count == fewest]
    chosen = choices[min(int(tie * len(choices)), len(choices) - 1)]
    return (chosen + 0.5) / bins
