"""Candidate generation: Gaussian steps around origins, rounded, then held to the bounds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from carbs_optimizer.acquisition import log_search_density
from carbs_optimizer.discrete import continuous_columns, propose
from carbs_optimizer.spaces import RealNumberSpace

DTYPE = torch.float64
_MAX_ROUNDS = 8


@dataclass
class SearchSpace:
    """The box and rounding rules of a search, in basic coordinates (CPU tensors)."""

    spaces: Sequence[RealNumberSpace]
    min_bounds: Tensor  # d
    max_bounds: Tensor  # d

    @classmethod
    def from_spaces(cls, spaces: Sequence[RealNumberSpace]) -> SearchSpace:
        return cls(
            spaces=spaces,
            min_bounds=torch.tensor([s.basic_bounds[0] for s in spaces], dtype=DTYPE),
            max_bounds=torch.tensor([s.basic_bounds[1] for s in spaces], dtype=DTYPE),
        )

    @property
    def dims(self) -> int:
        return len(self.spaces)

    def round(self, points: Tensor) -> Tensor:
        """points: m x d; integer dimensions snapped to allowed values."""
        if not any(s.is_integer for s in self.spaces):
            return points
        columns = [s.round_tensor_in_basic(points[:, i]) for i, s in enumerate(self.spaces)]
        return torch.stack(columns, dim=-1)

    def inside(self, points: Tensor, strict: bool = True) -> Tensor:
        """points: m x d -> m booleans, inside the (integer-widened) bounds: strictly for
        candidates (as the reference), or with the bounds themselves for observed points."""
        finite = torch.isfinite(points).all(dim=-1)
        if strict:
            above, below = points > self.min_bounds, points < self.max_bounds
        else:
            above, below = points >= self.min_bounds, points <= self.max_bounds
        return finite & above.all(dim=-1) & below.all(dim=-1)


@dataclass
class Oversampler:
    """How many raw samples to draw per wanted candidate.

    The reference started at 2^(bounded dims / 2) (256 raw samples per candidate at d=16)
    and only ever doubled. We learn the acceptance rate instead: draw what the last rate
    says is needed, and keep drawing until enough candidates survive.
    """

    factor: float = 1.25

    def update(self, accepted: int, drawn: int, dims: int) -> None:
        rate = max(accepted, 1) / max(drawn, 1)
        self.factor = min(float(2**dims), max(1.0, 1.25 / rate))


def sample_candidates(
    space: SearchSpace,
    origins: Tensor,
    radius: float,
    count: int,
    generator: torch.Generator,
    oversampler: Oversampler,
) -> tuple[Tensor, Tensor]:
    """Up to `count` rounded, in-bounds samples around the origins (k x d).

    Rounding happens before the bounds check: the reference rounded random-phase samples
    after it, so an integer could round to a value outside its bounds.
    Returns (m x d samples, m log search densities), m <= count.
    """
    kept: list[Tensor] = []
    total = 0
    for _ in range(_MAX_ROUNDS):
        wanted = count - total
        if wanted <= 0:
            break
        draw = max(wanted, math.ceil(wanted * oversampler.factor))
        pick = torch.randint(origins.shape[0], (draw,), generator=generator)
        steps = torch.randn(draw, space.dims, generator=generator, dtype=DTYPE) * radius
        samples = space.round(
            propose(space.spaces, origins[pick], origins[pick] + steps, radius, generator)
        )
        accepted = samples[space.inside(samples)]
        oversampler.update(accepted.shape[0], draw, space.dims)
        kept.append(accepted[:wanted])
        total += kept[-1].shape[0]
    samples = torch.cat(kept) if kept else torch.empty(0, space.dims, dtype=DTYPE)
    if samples.shape[0] == 0:
        return samples, torch.empty(0, dtype=DTYPE)
    real = continuous_columns(space.spaces)  # a switched choice is not a long step
    return samples, log_search_density(samples[:, real], origins[:, real], radius)
