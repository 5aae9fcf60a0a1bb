"""One search dimension of a study: numeric (linear, log, logit; optionally integer,
stepped or unbounded), categorical or ordinal.

`searchCenter` and ordinal `values` hold numbers or strings. A structural CRD schema has no
"number or string" type, so those nodes are left untyped (x-kubernetes-preserve-unknown-
fields) and CEL rules check their types; the pydantic checks below mirror each rule and
name the same field.
"""

from __future__ import annotations

import math
import sys
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from carbs_operator.models.base import (
    PARAMETER_NAME_PATTERN,
    Bool,
    Float,
    Int,
    Model,
    cel,
    fmt,
    raise_problems,
)

MAX_CHOICES = 64
MAX_CHOICE_LENGTH = 253
DISCRETE = "['categorical', 'ordinal']"
IS_NUMBER = "(type({0}) == int || type({0}) == double)"


class ParameterSpace(StrEnum):
    LINEAR = "linear"
    LOG = "log"
    LOGIT = "logit"
    CATEGORICAL = "categorical"
    ORDINAL = "ordinal"


NUMERIC_SPACES = (ParameterSpace.LINEAR, ParameterSpace.LOG, ParameterSpace.LOGIT)


def _scalar_only(value: Any) -> Any:
    """A number or a string, never a boolean (YAML's `yes`) or a structure."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError(
            "scalar_type", "must be a number or a string, not a {kind}",
            {"kind": type(value).__name__},
        )
    return value


# Untyped in the CRD (see the module docstring); int stays int so 64 renders as "64".
Scalar = Annotated[
    int | float | str, BeforeValidator(_scalar_only),
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]
# Rules for fields that only numeric spaces take.
_NUMERIC_ONLY = ("min", "max", "scale", "step", "integer", "roundingFactor")
_STEP_DIVIDES = (
    "!has(self.step) || !has(self.min) || !has(self.max) || "
    "(self.max - self.min) / self.step - double(int((self.max - self.min) / self.step + 0.5))"
    " < 1e-9 * ((self.max - self.min) / self.step + 1.0) && "
    "double(int((self.max - self.min) / self.step + 0.5)) - (self.max - self.min) / self.step"
    " < 1e-9 * ((self.max - self.min) / self.step + 1.0)"
)
# Unique ordinal values and an ordinal searchCenter among them are checked by the models
# only (carbs validate, and the operator's Invalid condition): in CEL both compare untyped
# values, whose size the API server cannot bound, so the rules' estimated cost could exceed
# its limit and the CRD be refused at install.


def _rules() -> dict[str, Any]:
    # integer and roundingFactor have schema defaults (false, 1), which the API server
    # fills in before CEL runs: only a value other than the default is refused.
    unset = {"integer": "!self.integer", "roundingFactor": "self.roundingFactor == 1"}
    numeric_only = [
        (f"!(self.space in {DISCRETE}) || !has(self.{name})"
         + (f" || {unset[name]}" if name in unset else ""),
         f"{name} applies to linear, log and logit spaces only", f".{name}")
        for name in _NUMERIC_ONLY
    ]
    return cel(
        ("!has(self.min) || !has(self.max) || self.min < self.max",
         "min must be less than max", ".min"),
        (f"self.space in {DISCRETE} || !has(self.searchCenter) || "
         f"({IS_NUMBER.format('self.searchCenter')} && "
         "(!has(self.min) || double(self.searchCenter) >= self.min) && "
         "(!has(self.max) || double(self.searchCenter) <= self.max))",
         "searchCenter must be a number within [min, max]", ".searchCenter"),
        (f"has(self.searchCenter) || self.space in {DISCRETE} || "
         "(has(self.min) && has(self.max)) || "
         "(self.space == 'logit' && !has(self.min) && !has(self.max))",
         "searchCenter is required when min or max is left open: there is no midpoint "
         "to start from", ".searchCenter"),
        ("self.space != 'log' || !has(self.min) || self.min > 0.0",
         "a log space needs min > 0 (leave it out for no lower bound)", ".min"),
        ("self.space != 'logit' || !has(self.min) || self.min > 0.0",
         "a logit space needs min > 0 (leave it out for the open interval)", ".min"),
        ("self.space != 'logit' || !has(self.max) || self.max < 1.0",
         "a logit space needs max < 1 (leave it out for the open interval)", ".max"),
        ("self.space != 'logit' || !has(self.integer) || !self.integer",
         "a logit space cannot be integer", ".integer"),
        ("!has(self.roundingFactor) || self.roundingFactor == 1 || "
         "(has(self.integer) && self.integer)",
         "roundingFactor applies only to integer parameters", ".roundingFactor"),
        ("!has(self.step) || self.space in ['linear', 'log']",
         "step applies to linear and log spaces only", ".step"),
        ("!has(self.step) || !has(self.integer) || !self.integer",
         "step applies to real parameters; use roundingFactor for integers", ".step"),
        (_STEP_DIVIDES, "step must divide max - min", ".step"),
        *numeric_only,
        ("self.space != 'categorical' || has(self.choices)",
         "a categorical space needs choices", ".choices"),
        ("!has(self.choices) || self.space == 'categorical'",
         "choices apply to categorical spaces only", ".choices"),
        ("self.space != 'ordinal' || has(self.values)",
         "an ordinal space needs values", ".values"),
        ("!has(self.values) || self.space == 'ordinal'",
         "values apply to ordinal spaces only", ".values"),
        ("!has(self.values) || self.values.all(v, type(v) == string) || "
         f"self.values.all(v, {IS_NUMBER.format('v')})",
         "values must be all numbers or all strings", ".values"),
        ("self.space != 'categorical' || !has(self.searchCenter) || !has(self.choices) || "
         "(type(self.searchCenter) == string && self.searchCenter in self.choices)",
         "searchCenter must be one of the choices", ".searchCenter"),
    )


class Parameter(Model):
    """One search dimension."""

    model_config = ConfigDict(json_schema_extra=_rules())
    name: str = Field(
        pattern=PARAMETER_NAME_PATTERN, max_length=63,
        description="Name ([a-z][a-z0-9_]*), unique in the study. A trial sees it as "
        "${params.<name>} and as env CARBS_PARAM_<NAME>.",
    )
    space: ParameterSpace = Field(
        description="Search space: linear (additive steps), log (multiplicative steps, for "
        "rates and sizes), logit (for fractions such as dropout), categorical (unordered "
        "choices, e.g. an optimizer's name) or ordinal (ordered values, e.g. batch sizes).",
    )
    min: Float | None = Field(
        None,
        description="Lower bound, inclusive (linear, log, logit). Leave it out for no lower "
        "bound (log: none above 0; logit: the open interval from 0).",
    )
    max: Float | None = Field(
        None,
        description="Upper bound, inclusive; greater than min. Leave it out for no upper "
        "bound (logit: the open interval up to 1).",
    )
    scale: Float | None = Field(
        None, gt=0,
        description="Step size in the search space: larger lets the search move further "
        "from the center (its steps are about 0.3 x scale at first). Default: max - min "
        "for a bounded linear range, twice the distance from searchCenter to the one bound "
        "of a half-open one, max(|searchCenter|, 1) for an open one; 1 for log (a step of "
        "about 2x) and logit.",
    )
    integer: Bool = Field(False, description="Suggest whole numbers only (not for logit).")
    rounding_factor: Int = Field(
        1, ge=1,
        description="For integer parameters: suggest multiples of this, e.g. 8 for layer "
        "widths. Default 1.",
    )
    step: Float | None = Field(
        None, gt=0,
        description="Suggest stepped values: min + k x step for linear (k x step when min "
        "is left out), a multiple of step for log. Must divide max - min. Not with integer.",
    )
    choices: list[Annotated[str, Field(max_length=MAX_CHOICE_LENGTH)]] | None = Field(
        None, min_length=1, max_length=MAX_CHOICES,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="For categorical: the choices, unique strings, each passed to the "
        "trial exactly as written.",
    )
    values: list[Scalar] | None = Field(
        None, min_length=1, max_length=MAX_CHOICES,
        description="For ordinal: the values in their order, all numbers or all strings, "
        "unique. The search steps between neighbours.",
    )
    search_center: Scalar | None = Field(
        None,
        description="Where the search starts. Numeric spaces: a number within [min, max], "
        "default the middle of the range in the search space (the geometric mean for log); "
        "required when min or max is left out (no midpoint), except for logit with both "
        "out (default 0.5). Categorical: one of the choices, default the first. Ordinal: "
        "one of the values, default the middle one.",
    )

    @model_validator(mode="after")
    def _check(self) -> Parameter:
        problems = _kind_problems(self)
        if self.space in NUMERIC_SPACES:
            problems += _numeric_problems(self)
        raise_problems(problems)
        return self

    @property
    def is_discrete(self) -> bool:
        return self.space not in NUMERIC_SPACES

    def effective_scale(self) -> float:
        """The scale, defaulting to the width of a linear range.

        The reference's default of 1 for every space suits log spaces and a linear [0, 1]
        (the same as here), but leaves a linear range such as [0, 100000] stuck at its
        center; users writing min and max expect the range to be searched. An open linear
        range takes its size from the distance between the center and its one bound, or
        from the center's magnitude."""
        if self.scale is not None:
            return self.scale
        if self.space is not ParameterSpace.LINEAR:
            return 1.0
        if self.min is not None and self.max is not None:
            width = self.max - self.min
            return width if math.isfinite(width) and width > 0 else sys.float_info.max
        center = float(self.effective_search_center())
        bound = self.min if self.min is not None else self.max
        if bound is not None and center != bound:
            return 2 * abs(center - bound)
        return max(abs(center), 1.0)

    def effective_search_center(self) -> int | float | str:
        """The search center, defaulting to the middle of the range in the search space."""
        if self.search_center is not None:
            return self.search_center
        if self.space is ParameterSpace.CATEGORICAL:
            return (self.choices or [""])[0]
        if self.space is ParameterSpace.ORDINAL:
            values = self.values or [0]
            return values[(len(values) - 1) // 2]
        low, high = self.min, self.max
        if self.space is ParameterSpace.LOGIT:
            if low is None and high is None:
                return 0.5
            low, high = low if low is not None else 0.0, high if high is not None else 1.0
            mid = (math.log(low / (1 - low)) + math.log(high / (1 - high))) / 2
            return 1 / (1 + math.exp(-mid))
        if low is None or high is None:  # the validator requires a center here
            raise ValueError(f"parameter {self.name!r} needs a searchCenter")
        if self.space is ParameterSpace.LOG:
            return math.sqrt(low * high)
        return (low + high) / 2


def _kind_problems(param: Parameter) -> list[tuple[str, str]]:
    """Which fields a space takes, and the choices and values themselves."""
    problems: list[tuple[str, str]] = []
    space = param.space
    if param.is_discrete:
        given = {name for name, value in (("min", param.min), ("max", param.max),
                 ("scale", param.scale), ("step", param.step)) if value is not None}
        given |= {"integer"} if param.integer else set()
        given |= {"roundingFactor"} if param.rounding_factor != 1 else set()
        problems += [(name, f"{name} applies to linear, log and logit spaces only")
                     for name in _NUMERIC_ONLY if name in given]
    if space is ParameterSpace.CATEGORICAL and param.choices is None:
        problems.append(("choices", "a categorical space needs choices"))
    if param.choices is not None and space is not ParameterSpace.CATEGORICAL:
        problems.append(("choices", f"choices apply to categorical spaces only, not {space}"))
    if space is ParameterSpace.ORDINAL and param.values is None:
        problems.append(("values", "an ordinal space needs values"))
    if param.values is not None and space is not ParameterSpace.ORDINAL:
        problems.append(("values", f"values apply to ordinal spaces only, not {space}"))
    if param.choices:
        repeated = sorted({c for c in param.choices if param.choices.count(c) > 1})
        if repeated:
            problems.append(("choices", f"must be unique; repeated: {', '.join(repeated)}"))
    if param.values:
        problems += _values_problems(param.values)
    center = param.search_center
    choices = param.choices
    if space is ParameterSpace.CATEGORICAL and center is not None and choices and not (
        isinstance(center, str) and center in choices
    ):
        problems.append(("searchCenter", f"must be one of the choices {choices} "
                         f"(got {center!r})"))
    values = param.values
    if space is ParameterSpace.ORDINAL and center is not None and values and not any(
        _same_value(v, center) for v in values
    ):
        problems.append(("searchCenter", f"must be one of the values {values} "
                         f"(got {center!r})"))
    return problems


def _same_value(a: int | float | str, b: int | float | str) -> bool:
    return isinstance(a, str) == isinstance(b, str) and a == b


def _values_problems(values: list[int | float | str]) -> list[tuple[str, str]]:
    strings = [isinstance(v, str) for v in values]
    if any(strings) and not all(strings):
        return [("values", "must be all numbers or all strings")]
    repeated = [v for i, v in enumerate(values) if any(_same_value(v, w) for w in values[:i])]
    if repeated:
        return [("values", f"must be unique; repeated: {', '.join(map(str, repeated))}")]
    return []


def _numeric_problems(param: Parameter) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    low, high, space = param.min, param.max, param.space
    if low is not None and high is not None and not low < high:
        problems.append(("min", f"must be less than max (got {fmt(low)} >= {fmt(high)})"))
    center = param.search_center
    shown = f"[{'-inf' if low is None else fmt(low)}, {'inf' if high is None else fmt(high)}]"
    if center is not None:
        if isinstance(center, str):
            problems.append(("searchCenter", f"must be a number for a {space} space "
                             f"(got {center!r})"))
        elif (low is not None and center < low) or (high is not None and center > high):
            problems.append(("searchCenter", f"must lie within [min, max] = {shown} "
                             f"(got {fmt(center)})"))
    open_range = low is None or high is None
    logit_default = space is ParameterSpace.LOGIT and low is None and high is None
    if center is None and open_range and not logit_default:
        problems.append(("searchCenter", "required when min or max is left out: the range "
                         f"{shown} has no midpoint to start from"))
    if space is ParameterSpace.LOG and low is not None and low <= 0:
        problems.append(("min", f"must be > 0 for a log space (got {fmt(low)})"))
    if space is ParameterSpace.LOGIT:
        if low is not None and low <= 0:
            problems.append(("min", f"must be > 0 for a logit space (got {fmt(low)})"))
        if high is not None and high >= 1:
            problems.append(("max", f"must be < 1 for a logit space (got {fmt(high)})"))
        if param.integer:
            problems.append(("integer", "a logit space cannot be integer"))
    if param.rounding_factor != 1 and not param.integer:
        problems.append(("roundingFactor", "applies only to integer parameters; "
                         "set integer: true or remove it"))
    problems += _step_problems(param)
    return problems


def _step_problems(param: Parameter) -> list[tuple[str, str]]:
    step = param.step
    if step is None:
        return []
    if param.space is ParameterSpace.LOGIT:
        return [("step", "step applies to linear and log spaces only")]
    if param.integer:
        return [("step", "step applies to real parameters; use roundingFactor for integers")]
    if param.min is not None and param.max is not None:
        ratio = (param.max - param.min) / step
        if abs(ratio - round(ratio)) >= 1e-9 * (ratio + 1.0):
            return [("step", f"must divide max - min = {fmt(param.max - param.min)} "
                     f"(got {fmt(step)})")]
    return []
