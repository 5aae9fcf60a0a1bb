"""Parameter spaces: the user's values (param space) and the search coordinates (basic space).

CARBS searches in a "basic" space where a Gaussian step of fixed radius means the same
thing everywhere: a log-space learning rate moves by factors, a logit-space probability by
odds. Each space maps a user value to one basic coordinate and back.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

ParamValue = int | float


@dataclass(frozen=True)
class RealNumberSpace:
    """A one-dimensional real space; subclasses choose the transform.

    `min`/`max` are inclusive bounds in param space. Integer spaces round to a multiple of
    `rounding_factor` (half to even, as Python's round does), and their bounds are widened by
    0.1 before the strict in-bounds check so that the bounds themselves stay reachable.
    """

    min: float = float("-inf")
    max: float = float("inf")
    scale: float = 1.0
    is_integer: bool = False
    rounding_factor: int = 1

    kind: ClassVar[str] = "real"

    def __post_init__(self) -> None:
        if not (self.scale > 0 and math.isfinite(self.scale)):
            raise ValueError(f"scale must be a positive finite number, got {self.scale!r}")
        if math.isnan(self.min) or math.isnan(self.max):
            raise ValueError("min and max must not be NaN")
        if self.min >= self.max:
            raise ValueError(f"min must be less than max (got min={self.min}, max={self.max})")
        if self.rounding_factor < 1 or int(self.rounding_factor) != self.rounding_factor:
            raise ValueError(
                f"rounding_factor must be a positive integer, got {self.rounding_factor}"
            )

    def basic_from_param(self, value: ParamValue) -> float:
        raise NotImplementedError

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        raise NotImplementedError

    def round_tensor_in_basic(self, value: Tensor) -> Tensor:
        """Snap basic coordinates to the basic image of the nearest allowed integer."""
        if not self.is_integer:
            return value
        in_param = self._param_from_basic_tensor(value)
        rounded = torch.round(in_param / self.rounding_factor) * self.rounding_factor
        return self._basic_from_param_tensor(rounded)

    def _param_from_basic_tensor(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def _basic_from_param_tensor(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def _round_param(self, value: float) -> ParamValue:
        return round(value / self.rounding_factor) * self.rounding_factor

    @property
    def min_bound(self) -> float:
        return self.min - 0.1 if self.is_integer else self.min

    @property
    def max_bound(self) -> float:
        return self.max + 0.1 if self.is_integer else self.max

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max

    @property
    def plot_scale(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class LinearSpace(RealNumberSpace):
    """basic = value / scale."""

    kind: ClassVar[str] = "linear"

    def basic_from_param(self, value: ParamValue) -> float:
        return float(value) / self.scale

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        in_param = value * self.scale
        if self.is_integer and is_rounded:
            return self._round_param(in_param)
        return in_param

    def _param_from_basic_tensor(self, value: Tensor) -> Tensor:
        return value * self.scale

    def _basic_from_param_tensor(self, value: Tensor) -> Tensor:
        return value / self.scale

    @property
    def plot_scale(self) -> str:
        return "linear"


@dataclass(frozen=True)
class LogSpace(RealNumberSpace):
    """basic = log_base(value) / scale; values must be positive."""

    min: float = 0.0
    base: int = 10

    kind: ClassVar[str] = "log"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min < 0:
            raise ValueError(f"a log space needs min >= 0, got {self.min}")
        if self.base <= 1:
            raise ValueError(f"a log space needs base > 1, got {self.base}")

    def basic_from_param(self, value: ParamValue) -> float:
        if value == 0:
            return float("-inf")
        if value < 0:
            raise ValueError(f"a log space value must be positive, got {value}")
        return math.log(value, self.base) / self.scale

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        in_param = float(self.base ** (value * self.scale))
        if self.is_integer and is_rounded:
            return self._round_param(in_param)
        return in_param

    def _param_from_basic_tensor(self, value: Tensor) -> Tensor:
        return torch.pow(float(self.base), value * self.scale)

    def _basic_from_param_tensor(self, value: Tensor) -> Tensor:
        return torch.log(value) / (math.log(self.base) * self.scale)

    @property
    def plot_scale(self) -> str:
        return "log"


@dataclass(frozen=True)
class LogitSpace(RealNumberSpace):
    """basic = log10(p / (1 - p)) / scale for probabilities in (0, 1); never integer."""

    min: float = 0.0
    max: float = 1.0

    kind: ClassVar[str] = "logit"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.min < 0 or self.max > 1:
            raise ValueError(f"a logit space lies within [0, 1], got [{self.min}, {self.max}]")
        if self.is_integer:
            raise ValueError("a logit space cannot be integer")

    def basic_from_param(self, value: ParamValue) -> float:
        if value == 0:
            return float("-inf")
        if value == 1:
            return float("inf")
        if not 0 < value < 1:
            raise ValueError(f"a logit space value must lie in (0, 1), got {value}")
        return math.log10(value / (1 - value)) / self.scale

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        return 1.0 / (10 ** (-value * self.scale) + 1.0)

    def _param_from_basic_tensor(self, value: Tensor) -> Tensor:
        return torch.sigmoid(value * self.scale * math.log(10))

    def _basic_from_param_tensor(self, value: Tensor) -> Tensor:
        return torch.log10(value / (1 - value)) / self.scale

    @property
    def plot_scale(self) -> str:
        return "logit"


SPACE_KINDS: dict[str, type[RealNumberSpace]] = {
    "linear": LinearSpace,
    "log": LogSpace,
    "logit": LogitSpace,
}


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a name, its space and where the search starts."""

    name: str
    space: RealNumberSpace
    search_center: ParamValue

    def __post_init__(self) -> None:
        center = float(self.search_center)
        if not math.isfinite(center):
            raise ValueError(f"param {self.name!r}: search_center must be finite")
        if not self.space.min_bound <= center <= self.space.max_bound:
            raise ValueError(
                f"param {self.name!r}: search_center {self.search_center} lies outside "
                f"[{self.space.min}, {self.space.max}]"
            )
        basic = self.space.basic_from_param(self.search_center)
        if not math.isfinite(basic):
            raise ValueError(
                f"param {self.name!r}: search_center {self.search_center} has no finite "
                f"{self.space.kind}-space coordinate"
            )
