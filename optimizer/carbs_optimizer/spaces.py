"""Parameter spaces: the user's values (param space) and the search coordinates (basic space).

CARBS searches in a "basic" space where a Gaussian step of fixed radius means the same
thing everywhere: a log-space learning rate moves by factors, a logit-space probability by
odds. Each space maps a user value to one basic coordinate and back.

Discrete spaces keep that one-coordinate contract: a categorical's coordinate is its choice
index and an ordinal's its value index. How the search perturbs those indices and how the
surrogate sees them (one-hot for categorical choices) lives in `carbs_optimizer.discrete`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

ParamValue = int | float | str
OrdinalValue = int | float | str
# A stepped value is printed with this many significant digits, so that 0.1 + 3 x 0.05
# comes out as 0.25 and not 0.25000000000000006.
_STEP_DIGITS = 15


def as_number(value: ParamValue) -> float:
    """The value of a numeric parameter; a string or a boolean is refused by name."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class RealNumberSpace:
    """A one-dimensional real space; subclasses choose the transform.

    `min`/`max` are inclusive bounds in param space (infinite: no wall, as in the
    reference). Integer spaces round to a multiple of `rounding_factor` (half to even, as
    Python's round does), and their bounds are widened by 0.1 before the strict in-bounds
    check so that the bounds themselves stay reachable. `step` makes a real space stepped:
    a linear value is min + k x step (0 + k x step when min is open), a log value a
    positive multiple of step.
    """

    min: float = float("-inf")
    max: float = float("inf")
    scale: float = 1.0
    is_integer: bool = False
    rounding_factor: int = 1
    step: float | None = None

    kind: ClassVar[str] = "real"
    is_discrete: ClassVar[bool] = False

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
        if self.step is not None:
            self._check_step(self.step)

    def _check_step(self, step: float) -> None:
        if not (step > 0 and math.isfinite(step)):
            raise ValueError(f"step must be a positive finite number, got {step!r}")
        if self.is_integer:
            raise ValueError("step applies to real spaces; use rounding_factor for integers")
        bounded = math.isfinite(self.min) and math.isfinite(self.max)
        if bounded and not _is_whole((self.max - self.min) / step):
            raise ValueError(f"step {step} does not divide the range [{self.min}, {self.max}]")

    @property
    def is_stepped(self) -> bool:
        return self.step is not None

    def basic_from_param(self, value: ParamValue) -> float:
        raise NotImplementedError

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        raise NotImplementedError

    def round_tensor_in_basic(self, value: Tensor) -> Tensor:
        """Snap basic coordinates to the basic image of the nearest allowed value."""
        if not (self.is_integer or self.is_stepped):
            return value
        in_param = self._param_from_basic_tensor(value)
        if self.is_integer:
            rounded = torch.round(in_param / self.rounding_factor) * self.rounding_factor
        else:
            rounded = self._round_to_step_tensor(in_param)
        return self._basic_from_param_tensor(rounded)

    def _round_to_step_tensor(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def _param_from_basic_tensor(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def _basic_from_param_tensor(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def _round_param(self, value: float) -> ParamValue:
        if self.step is not None:
            return float(f"{self._round_to_step(value, self.step):.{_STEP_DIGITS}g}")
        return round(value / self.rounding_factor) * self.rounding_factor

    def _round_to_step(self, value: float, step: float) -> float:
        raise NotImplementedError

    @property
    def min_bound(self) -> float:
        return self.min - 0.1 if self.is_integer else self.min

    @property
    def max_bound(self) -> float:
        return self.max + 0.1 if self.is_integer else self.max

    def contains(self, value: float) -> bool:
        return self.min <= value <= self.max

    @property
    def basic_bounds(self) -> tuple[float, float]:
        """The (integer-widened) bounds in basic coordinates; infinite where open."""
        return self.basic_from_param(self.min_bound), self.basic_from_param(self.max_bound)

    @property
    def plot_scale(self) -> str:
        raise NotImplementedError


def _is_whole(ratio: float) -> bool:
    # The manifest's CEL rule uses the same tolerance, so both refuse the same steps.
    return abs(ratio - round(ratio)) < 1e-9 * (abs(ratio) + 1.0)


@dataclass(frozen=True)
class LinearSpace(RealNumberSpace):
    """basic = value / scale."""

    kind: ClassVar[str] = "linear"

    def basic_from_param(self, value: ParamValue) -> float:
        return as_number(value) / self.scale

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        in_param = value * self.scale
        if (self.is_integer or self.is_stepped) and is_rounded:
            return self._round_param(in_param)
        return in_param

    @property
    def _anchor(self) -> float:
        return self.min if math.isfinite(self.min) else 0.0

    def _round_to_step(self, value: float, step: float) -> float:
        return self._anchor + round((value - self._anchor) / step) * step

    def _round_to_step_tensor(self, value: Tensor) -> Tensor:
        step = float(self.step or 1.0)
        return self._anchor + torch.round((value - self._anchor) / step) * step

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
        number = as_number(value)
        if number == 0:
            return float("-inf")
        if number < 0:
            raise ValueError(f"a log space value must be positive, got {value}")
        return math.log(number, self.base) / self.scale

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        in_param = float(self.base ** (value * self.scale))
        if (self.is_integer or self.is_stepped) and is_rounded:
            return self._round_param(in_param)
        return in_param

    def _round_to_step(self, value: float, step: float) -> float:
        return max(1, round(value / step)) * step

    def _round_to_step_tensor(self, value: Tensor) -> Tensor:
        step = float(self.step or 1.0)
        return torch.clamp(torch.round(value / step), min=1.0) * step

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
        if self.step is not None:
            raise ValueError("a logit space cannot be stepped")

    def basic_from_param(self, value: ParamValue) -> float:
        number = as_number(value)
        if number == 0:
            return float("-inf")
        if number == 1:
            return float("inf")
        if not 0 < number < 1:
            raise ValueError(f"a logit space value must lie in (0, 1), got {value}")
        return math.log10(number / (1 - number)) / self.scale

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        return 1.0 / (10 ** (-value * self.scale) + 1.0)

    def _param_from_basic_tensor(self, value: Tensor) -> Tensor:
        return torch.sigmoid(value * self.scale * math.log(10))

    def _basic_from_param_tensor(self, value: Tensor) -> Tensor:
        return torch.log10(value / (1 - value)) / self.scale

    @property
    def plot_scale(self) -> str:
        return "logit"


@dataclass(frozen=True)
class _IndexedSpace(RealNumberSpace):
    """A finite list of values whose basic coordinate is the index in it.

    The bounds are the index range (widened by 0.1 like an integer space's), so the
    search box, rounding and in-bounds check treat it as an integer dimension.
    """

    is_discrete: ClassVar[bool] = True

    def __post_init__(self) -> None:
        entries = self._entries()
        object.__setattr__(self, "min", 0.0)
        object.__setattr__(self, "max", float(max(len(entries) - 1, 0)))
        object.__setattr__(self, "is_integer", True)
        object.__setattr__(self, "scale", 1.0)
        object.__setattr__(self, "rounding_factor", 1)
        object.__setattr__(self, "step", None)

    def _entries(self) -> Sequence[OrdinalValue]:
        raise NotImplementedError

    @property
    def size(self) -> int:
        return len(self._entries())

    def index_of(self, value: ParamValue) -> int:
        raise NotImplementedError

    def basic_from_param(self, value: ParamValue) -> float:
        return float(self.index_of(value))

    def param_from_basic(self, value: float, is_rounded: bool = True) -> ParamValue:
        entries = self._entries()
        index = min(max(round(value), 0), len(entries) - 1) if math.isfinite(value) else 0
        return entries[index]

    def round_tensor_in_basic(self, value: Tensor) -> Tensor:
        return torch.round(value)

    @property
    def basic_bounds(self) -> tuple[float, float]:
        return self.min_bound, self.max_bound

    @property
    def plot_scale(self) -> str:
        return self.kind


@dataclass(frozen=True)
class CategoricalSpace(_IndexedSpace):
    """Unordered choices, given as strings and only ever returned as those exact strings."""

    choices: Sequence[str] = ()  # kept as a tuple

    kind: ClassVar[str] = "categorical"

    def __post_init__(self) -> None:
        choices = tuple(self.choices)
        if not choices:
            raise ValueError("choices must not be empty")
        for choice in choices:
            if not isinstance(choice, str):
                raise ValueError(f"choices must be strings, got {choice!r}")
        duplicates = sorted({c for c in choices if choices.count(c) > 1})
        if duplicates:
            raise ValueError(f"choices must be unique, repeated: {', '.join(duplicates)}")
        object.__setattr__(self, "choices", choices)
        super().__post_init__()

    def _entries(self) -> Sequence[OrdinalValue]:
        return self.choices

    def index_of(self, value: ParamValue) -> int:
        if isinstance(value, str) and value in self.choices:
            return self.choices.index(value)
        raise ValueError(f"{value!r} is not one of the choices {list(self.choices)}")


@dataclass(frozen=True)
class OrdinalSpace(_IndexedSpace):
    """Ordered values (all numbers or all strings), searched by stepping between neighbours
    in the order given."""

    values: Sequence[OrdinalValue] = ()  # kept as a tuple

    kind: ClassVar[str] = "ordinal"

    def __post_init__(self) -> None:
        values = tuple(self.values)
        if not values:
            raise ValueError("values must not be empty")
        strings = [isinstance(v, str) for v in values]
        if any(strings) and not all(strings):
            raise ValueError("values must be all numbers or all strings")
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise ValueError(f"values must be numbers or strings, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"values must be finite, got {value!r}")
        repeated = [v for i, v in enumerate(values) if v in values[:i]]
        if repeated:
            raise ValueError(f"values must be unique, repeated: {repeated}")
        object.__setattr__(self, "values", values)
        super().__post_init__()

    def _entries(self) -> Sequence[OrdinalValue]:
        return self.values

    def index_of(self, value: ParamValue) -> int:
        for index, entry in enumerate(self.values):
            same_kind = isinstance(entry, str) == isinstance(value, str)
            if same_kind and not isinstance(value, bool) and entry == value:
                return index
        raise ValueError(f"{value!r} is not one of the values {list(self.values)}")


SPACE_KINDS: dict[str, type[RealNumberSpace]] = {
    "linear": LinearSpace,
    "log": LogSpace,
    "logit": LogitSpace,
    "categorical": CategoricalSpace,
    "ordinal": OrdinalSpace,
}


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a name, its space and where the search starts."""

    name: str
    space: RealNumberSpace
    search_center: ParamValue

    def __post_init__(self) -> None:
        if not self.space.is_discrete:
            try:
                center = as_number(self.search_center)
            except ValueError as error:
                raise ValueError(f"param {self.name!r}: search_center {error}") from None
            if not math.isfinite(center):
                raise ValueError(f"param {self.name!r}: search_center must be finite")
            if not self.space.min_bound <= center <= self.space.max_bound:
                raise ValueError(
                    f"param {self.name!r}: search_center {self.search_center} lies outside "
                    f"[{self.space.min}, {self.space.max}]"
                )
        try:
            basic = self.space.basic_from_param(self.search_center)
        except ValueError as error:
            raise ValueError(f"param {self.name!r}: search_center: {error}") from None
        if not math.isfinite(basic):
            raise ValueError(
                f"param {self.name!r}: search_center {self.search_center} has no finite "
                f"{self.space.kind}-space coordinate"
            )
