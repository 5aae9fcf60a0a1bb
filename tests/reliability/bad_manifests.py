"""Generated bad study manifests: one defect each, with the field path that must be named.

Each defect is drawn by a hypothesis strategy from a family the issue lists: a wrong JSON
type, a missing required field, min >= max, NaN or infinity, a number beyond its bound, an
unknown space, a name that is too long, non-ASCII text where a name must be ASCII. The base
is the valid manifest of tests/operator/manifest_cases.py.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from tests.operator.manifest_cases import CONTAINER, DELETE, apply, base_study

# Field -> its JSON type in the manifest (a value of another type must be refused there).
TYPED_FIELDS: dict[str, str] = {
    "spec.parallelism": "integer",
    "spec.suspend": "boolean",
    "spec.maxSuggestionCost": "number",
    "spec.objective": "object",
    "spec.objective.metric": "string",
    "spec.objective.direction": "string",
    "spec.cost.metric": "string",
    "spec.parameters": "array",
    "spec.parameters[0].name": "string",
    "spec.parameters[0].space": "string",
    "spec.parameters[0].min": "number",
    "spec.parameters[0].max": "number",
    "spec.parameters[0].searchCenter": "number",
    "spec.parameters[1].integer": "boolean",
    "spec.parameters[1].roundingFactor": "integer",
    "spec.parameters[3].scale": "number",
    "spec.budget": "object",
    "spec.budget.maxTrials": "integer",
    "spec.budget.maxFailedTrials": "integer",
    "spec.budget.maxTotalCost": "number",
    "spec.budget.goal": "number",
    "spec.carbs": "object",
    "spec.carbs.seed": "integer",
    "spec.carbs.initialSearchRadius": "number",
    "spec.trialTemplate": "object",
    f"{CONTAINER}.command": "array",
    f"{CONTAINER}.args[0]": "string",
    f"{CONTAINER}.env[0].value": "string",
}

# A parameter's min and max (it may be open, given a searchCenter) and maxFailedTrials (no
# limit by default) are optional.
REQUIRED_FIELDS = [
    "spec", "spec.objective", "spec.objective.metric", "spec.cost", "spec.parameters",
    "spec.parameters[0].name", "spec.parameters[0].space",
    "spec.budget", "spec.budget.maxTrials", "spec.trialTemplate", "spec.trialTemplate.spec",
    "spec.trialTemplate.spec.template", "spec.trialTemplate.spec.template.spec",
    "spec.trialTemplate.spec.template.spec.containers", f"{CONTAINER}.name",
]

NUMBER_FIELDS = [path for path, kind in TYPED_FIELDS.items() if kind == "number"]

# Upper bounds (inclusive) of bounded integer fields.
BOUNDED = {
    "spec.parallelism": 1000,
    "spec.budget.maxTrials": 100_000,
    "spec.budget.maxFailedTrials": 100_000,
    "spec.carbs.seed": 2**32 - 1,
}

# (parameter index, space, lowest allowed min, highest allowed max) in the base manifest.
PARAMETERS = [(0, "log", 0.0, math.inf), (1, "log", 0.0, math.inf),
              (2, "logit", 0.0, 1.0), (3, "linear", -math.inf, math.inf)]

SPACES = ("linear", "log", "logit")


@dataclass(frozen=True)
class BadManifest:
    """A manifest with one defect, and the field path a validator must name for it."""

    family: str
    obj: dict[str, Any]
    path: str

    def __repr__(self) -> str:  # hypothesis prints this for a failing example
        return f"BadManifest({self.family!r}, path={self.path!r})"


def _of_type(kind: str) -> st.SearchStrategy[Any]:
    """Values of JSON type `kind` (an integer counts as a number, as in JSON Schema)."""
    scalars: dict[str, st.SearchStrategy[Any]] = {
        "integer": st.integers(-(2**40), 2**40),
        "number": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "string": st.text(max_size=20),
        "array": st.lists(st.integers(), max_size=3),
        "object": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2),
        "null": st.none(),
    }
    return scalars[kind]


def _wrong_value(kind: str) -> st.SearchStrategy[Any]:
    compatible = {"number": {"number", "integer"}, "integer": {"integer"}}.get(kind, {kind})
    # null means "unset" for optional fields (as kubectl prunes it): never a wrong type.
    wrong = sorted({"integer", "number", "boolean", "string", "array", "object"} - compatible)
    if kind == "integer":
        wrong.remove("number")  # 2.0 is an integer to JSON Schema; fractions are drawn below
        return st.one_of(*(_of_type(w) for w in wrong),
                         st.floats(allow_nan=False, allow_infinity=False).filter(
                             lambda f: not f.is_integer()))
    return st.one_of(*(_of_type(w) for w in wrong))


def _edited(edits: dict[str, Any]) -> dict[str, Any]:
    """The base manifest with fields set (missing parent objects created) or DELETEd."""
    obj = copy.deepcopy(base_study())
    for path, value in edits.items():
        parent, _, _ = path.rpartition(".")
        node: Any = obj
        for part in parent.split(".") if parent else []:
            name = part.split("[")[0]
            if isinstance(node, dict) and name not in node:
                node[name] = {}
            node = node[name]
            for index in part.split("[")[1:]:
                node = node[int(index.rstrip("]"))]
        apply(obj, path, value)
    return obj


@st.composite
def wrong_types(draw: st.DrawFn) -> BadManifest:
    path = draw(st.sampled_from(sorted(TYPED_FIELDS)))
    value = draw(_wrong_value(TYPED_FIELDS[path]))
    return BadManifest("wrong type", _edited({path: value}), path)


@st.composite
def missing_fields(draw: st.DrawFn) -> BadManifest:
    path = draw(st.sampled_from(REQUIRED_FIELDS))
    return BadManifest("missing field", _edited({path: DELETE}), path)


@st.composite
def min_not_below_max(draw: st.DrawFn) -> BadManifest:
    index, _, low, high = draw(st.sampled_from(PARAMETERS))
    top = high if math.isfinite(high) else 1e12
    bottom = low if math.isfinite(low) else -1e12
    maximum = draw(st.floats(min_value=bottom, max_value=top, exclude_min=True,
                             exclude_max=True))
    minimum = draw(st.floats(min_value=maximum, max_value=top, exclude_max=True))
    prefix = f"spec.parameters[{index}]"
    obj = _edited({f"{prefix}.min": minimum, f"{prefix}.max": maximum})
    parameter = obj["spec"]["parameters"][index]
    parameter.pop("searchCenter", None)  # a centre outside [min, max] would be a second defect
    if parameter.get("integer"):  # and so would fractional bounds of an integer parameter
        parameter["integer"] = False
        parameter.pop("roundingFactor", None)
    return BadManifest("min >= max", obj, f"{prefix}.min")


@st.composite
def non_finite(draw: st.DrawFn) -> BadManifest:
    path = draw(st.sampled_from(NUMBER_FIELDS))
    value = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    return BadManifest("NaN or infinity", _edited({path: value}), path)


@st.composite
def huge_numbers(draw: st.DrawFn) -> BadManifest:
    path = draw(st.sampled_from(sorted(BOUNDED)))
    value = draw(st.integers(min_value=BOUNDED[path] + 1, max_value=2**63 - 1))
    return BadManifest("beyond its bound", _edited({path: value}), path)


@st.composite
def unknown_spaces(draw: st.DrawFn) -> BadManifest:
    index = draw(st.integers(0, 3))
    space = draw(st.text(max_size=12).filter(lambda s: s not in SPACES))
    path = f"spec.parameters[{index}].space"
    return BadManifest("unknown space", _edited({path: space}), path)


_DNS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=1)


@st.composite
def long_names(draw: st.DrawFn) -> BadManifest:
    if draw(st.booleans()):
        length = draw(st.integers(53, 253))
        name = "s" + draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-",
                                  min_size=length - 2, max_size=length - 2)) + draw(_DNS)
        return BadManifest("long study name", _edited({"metadata.name": name}), "metadata.name")
    index = draw(st.integers(0, 3))
    length = draw(st.integers(64, 300))
    name = "p" * length
    path = f"spec.parameters[{index}].name"
    return BadManifest("long parameter name", _edited({path: name}), path)


@st.composite
def unicode_names(draw: st.DrawFn) -> BadManifest:
    """A parameter name with a non-ASCII character (a look-alike, a zero-width space...)."""
    index = draw(st.integers(0, 3))
    stem = draw(st.sampled_from(["lr", "width", "x"]))
    odd = draw(st.characters(min_codepoint=0x80, exclude_categories=["Cs"]))
    position = draw(st.integers(0, len(stem)))
    name = stem[:position] + odd + stem[position:]
    path = f"spec.parameters[{index}].name"
    return BadManifest("non-ASCII name", _edited({path: name}), path)


bad_manifests = st.one_of(wrong_types(), missing_fields(), min_not_below_max(), non_finite(),
                          huge_numbers(), unknown_spaces(), long_names(), unicode_names())
