"""Shared ground of the resource models: API constants and limits, the base models,
the number types that refuse coercions Kubernetes would not make, and the helpers that
report cross-field problems and attach CEL rules to a model's schema."""

from __future__ import annotations

from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

GROUP: Final = "carbs.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "carbs.dev/v1alpha1"
STUDY_KIND: Final = "CarbsStudy"
TRIAL_KIND: Final = "CarbsTrial"

PARAMETER_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_PARAMETERS = 64
MAX_TRIALS_LIMIT = 100_000
MAX_FRONTIER_POINTS = 50
# A trial's Job is named `<study>-<index>`, and Job names end up in 63-character pod labels.
MAX_STUDY_NAME_LENGTH = 52
MAX_TRIAL_NAME_LENGTH = 63
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SPEC_PROBLEM = "carbs_spec_problem"


def _number_only(value: Any) -> Any:
    """Kubernetes keeps `"0.1"` and `true` a string and a boolean, never numbers; coercing
    them here would let `carbs validate` pass what the API server rejects."""
    if isinstance(value, bool | str):
        kind = "boolean" if isinstance(value, bool) else "string"
        raise PydanticCustomError("number_type", "must be a number, not a {kind}", {"kind": kind})
    return value


Float = Annotated[float, BeforeValidator(_number_only)]
Int = Annotated[int, BeforeValidator(_number_only)]
Bool = Annotated[bool, Field(strict=True)]


def fmt(value: float) -> str:
    """A number as the user wrote it: `5`, not `5.0`; other floats exactly (repr)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def raise_problems(problems: list[tuple[str, str]]) -> None:
    """Report cross-field problems as one pydantic error that keeps each field's path."""
    if problems:
        summary = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
        context = {"summary": summary, "problems": problems}
        raise PydanticCustomError(SPEC_PROBLEM, "{summary}", context)


def cel(*items: tuple[str, str, str]) -> dict[str, Any]:
    """CEL rules as (rule, message, fieldPath), placed in a model's JSON schema for the CRD."""
    out = []
    for rule, message, field_path in items:
        entry = {"rule": rule, "message": message}
        if field_path:
            entry["fieldPath"] = field_path
        out.append(entry)
    return {"x-kubernetes-validations": out}


IMMUTABLE_HINT = (
    "the finished trials were measured under it. Budget, parallelism, suspend, "
    "maxSuggestionCost, completionPolicy, earlyStopping and trialTemplate may change; for "
    "another search, create a new study (spec.warmStart.fromStudies can seed it with this "
    "one's trials)"
)


def immutable(what: str) -> dict[str, Any]:
    """A CEL transition rule (`self == oldSelf`) refusing any edit of a field that defines
    the search: an accepted edit would silently reinterpret the trials already run."""
    return cel(("self == oldSelf", f"{what} is immutable: {IMMUTABLE_HINT}", ""))


def _param_value(value: Any) -> Any:
    """A trial's parameter value: a number, or a string for a categorical or ordinal one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise PydanticCustomError(
            "param_value_type", "must be a number or a string, not a {kind}",
            {"kind": type(value).__name__},
        )
    return value


# Untyped in the CRD (a structural schema has no "number or string"); int stays int.
ParamValue = Annotated[
    int | float | str, BeforeValidator(_param_value),
    WithJsonSchema({"x-kubernetes-preserve-unknown-fields": True}),
]
# Bounded so that CEL's cost estimate for `self == oldSelf` on a trial spec stays small.
ParamValues = Annotated[dict[str, ParamValue], Field(
    max_length=MAX_PARAMETERS, json_schema_extra=cel((
        "self.all(k, type(self[k]) == string || type(self[k]) == int || "
        "type(self[k]) == double)", "parameter values are numbers or strings", "",
    )),
)]


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python, finite numbers, and typos rejected
    (the API server would silently prune an unknown field, losing the user's intent)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_unset(cls, data: Any) -> Any:
        """Kubernetes prunes `null` from non-nullable fields; doing the same keeps us in step."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class LooseModel(Model):
    """A Kubernetes object we model only in part: unknown fields are kept as written."""

    model_config = ConfigDict(extra="allow")


class StatusModel(Model):
    """Status written by a possibly newer operator: unknown fields are ignored, not errors."""

    model_config = ConfigDict(extra="ignore")
