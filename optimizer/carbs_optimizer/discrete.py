"""Discrete and stepped coordinates: how the search moves them and how the surrogate sees them.

Every parameter keeps one basic coordinate (a categorical's is its choice index, an
ordinal's its value index), so the frontier, resampling, state and bounds need nothing new.
Three things do differ, and they live here so the rest of the engine calls one function
each:

- proposals (`propose`): a Gaussian step means nothing for a choice index. Around an
  origin, a categorical switches to another choice, uniformly, with the probability that a
  Gaussian step of the search radius crosses half of `NEIGHBOUR_DISTANCE`; an ordinal
  moves by a rounded Gaussian step of the same size in neighbours, so at the default
  radius it stays put about 60% of the time and otherwise mostly moves to a neighbour.
  Stepped real coordinates are snapped to their grid.
- model inputs (`InputEncoding`): a categorical becomes one-hot columns, so every pair of
  choices is the same distance apart (no order is invented); an ordinal's index is scaled
  so that neighbours sit `NEIGHBOUR_DISTANCE` apart, as close as a typical search step.
- search density (`continuous_columns`): the Gaussian search density is a density over
  real coordinates only; a switched choice is not "far" from its origin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from carbs_optimizer.spaces import CategoricalSpace, OrdinalSpace, RealNumberSpace

# Basic-space distance that counts as "one neighbour away" (another choice, the next
# ordinal value). At the default search radius of 0.3 a choice switches with p ~ 0.4.
NEIGHBOUR_DISTANCE = 0.5


def switch_probability(radius: float) -> float:
    """P(a Gaussian step of std `radius` moves more than half a neighbour distance)."""
    return math.erfc(NEIGHBOUR_DISTANCE / (2.0 * radius * math.sqrt(2.0)))


def continuous_columns(spaces: Sequence[RealNumberSpace]) -> list[int]:
    """Indices of the coordinates the Gaussian search density applies to."""
    return [i for i, space in enumerate(spaces) if not space.is_discrete]


def has_special_columns(spaces: Sequence[RealNumberSpace]) -> bool:
    return any(space.is_discrete or space.is_stepped for space in spaces)


def propose(
    spaces: Sequence[RealNumberSpace],
    origins: Tensor,
    proposals: Tensor,
    radius: float,
    generator: torch.Generator,
) -> Tensor:
    """`proposals` (m x d, origins plus Gaussian steps) with discrete columns redrawn around
    their origin (m x d) and stepped columns snapped; returns a new tensor."""
    if not has_special_columns(spaces):
        return proposals
    out = proposals.clone()
    count = proposals.shape[0]
    for column, space in enumerate(spaces):
        if isinstance(space, CategoricalSpace):
            out[:, column] = _switch_choices(origins[:, column], space.size, radius, generator)
        elif isinstance(space, OrdinalSpace):
            out[:, column] = _step_neighbours(
                origins[:, column], space.size, radius, count, generator
            )
        elif space.is_stepped:
            out[:, column] = space.round_tensor_in_basic(proposals[:, column])
    return out


def _switch_choices(origin: Tensor, size: int, radius: float, generator: torch.Generator) -> Tensor:
    index = torch.clamp(torch.round(origin), 0, size - 1)
    if size < 2:
        return index
    draws = torch.rand(index.shape[0], generator=generator, dtype=origin.dtype)
    switch = draws < switch_probability(radius)
    # Another choice, uniformly: an offset of 1..size-1 modulo size never lands on itself.
    offset = torch.randint(1, size, index.shape, generator=generator).to(origin.dtype)
    return torch.where(switch, torch.remainder(index + offset, size), index)


def _step_neighbours(
    origin: Tensor, size: int, radius: float, count: int, generator: torch.Generator
) -> Tensor:
    index = torch.clamp(torch.round(origin), 0, size - 1)
    if size < 2:
        return index
    steps = torch.randn(count, generator=generator, dtype=origin.dtype)
    moved = index + torch.round(steps * radius / NEIGHBOUR_DISTANCE)
    # Reflect at the ends (a step past the last value comes back inside), then clamp what a
    # very long step would still leave outside.
    last = float(size - 1)
    moved = torch.where(moved < 0, -moved, moved)
    moved = torch.where(moved > last, 2 * last - moved, moved)
    return torch.clamp(moved, 0, last)


class InputEncoding:
    """Basic coordinates (m x d) to surrogate inputs (m x d'): one-hot categoricals, scaled
    ordinal indices, real coordinates unchanged."""

    def __init__(self, spaces: Sequence[RealNumberSpace]) -> None:
        self.spaces = list(spaces)
        self.is_identity = not any(space.is_discrete for space in self.spaces)
        self.dims = sum(
            space.size if isinstance(space, CategoricalSpace) else 1 for space in self.spaces
        )

    def encode(self, inputs: Tensor) -> Tensor:
        if self.is_identity:
            return inputs
        columns: list[Tensor] = []
        for column, space in enumerate(self.spaces):
            values = inputs[..., column]
            if isinstance(space, CategoricalSpace):
                index = torch.clamp(torch.round(values), 0, space.size - 1).long()
                hot = torch.nn.functional.one_hot(index, space.size).to(inputs.dtype)
                columns.append(hot * NEIGHBOUR_DISTANCE)
            elif isinstance(space, OrdinalSpace):
                columns.append((values * NEIGHBOUR_DISTANCE).unsqueeze(-1))
            else:
                columns.append(values.unsqueeze(-1))
        return torch.cat(columns, dim=-1)
