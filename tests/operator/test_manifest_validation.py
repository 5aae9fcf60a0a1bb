"""validate_manifest and the YAML loader: exact messages, and no exception on any input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbs_operator.models import CarbsStudy, Parameter, ParameterSpace
from carbs_operator.validation import (
    ManifestError,
    Problem,
    format_path,
    load_study,
    load_yaml,
    parse_study,
    validate_manifest,
)
from tests.operator.manifest_cases import CONTAINER, DELETE, Case, base_study


def _lines(obj: Any) -> list[str]:
    return [str(p) for p in validate_manifest(obj)]


def test_messages_name_the_field_and_the_values() -> None:
    obj = Case("x", {"spec.parameters[0].min": 5, "spec.parameters[0].max": 1,
                     "spec.parameters[0].searchCenter": 2, "spec.parameters[0].space": "linear"}
               ).manifest()
    assert _lines(obj) == [
        "spec.parameters[0].min: must be less than max (got 5 >= 1)",
        "spec.parameters[0].searchCenter: must lie within [min, max] = [5, 1] (got 2)",
    ]


@pytest.mark.parametrize(("edits", "line"), [
    ({"spec.parameters[0].min": 0}, "spec.parameters[0].min: must be > 0 for a log space (got 0)"),
    ({"spec.cost.source": "gpuSeconds"}, "spec.cost: set exactly one of metric and source"),
    ({"spec.parallelism": "2"}, "spec.parallelism: must be a number, not a string (got '2')"),
    ({"spec.parameters[0].max": float("nan")},
     "spec.parameters[0].max: must be a finite number (not NaN or infinity)"),
    ({"spec.objective.direction": "up"},
     "spec.objective.direction: must be 'minimize' or 'maximize' (got 'up')"),
    ({"spec.budget.maxTrials": 0},
     "spec.budget.maxTrials: must be greater than or equal to 1 (got 0)"),
    ({"spec.budget": {"maxFailedTrials": 3}}, "spec.budget.maxTrials: required field is missing"),
    ({"spec.parameters[3].choices": []},
     "spec.parameters[3].choices: must not be empty"),
    ({"spec.parameters[3]": {"name": "momentum", "space": "categorical",
                             "choices": ["adam", "sgd"], "searchCenter": "lion"}},
     "spec.parameters[3].searchCenter: must be one of the choices ['adam', 'sgd'] (got 'lion')"),
    ({"spec.parameters[3].max": DELETE},
     "spec.parameters[3].searchCenter: required when min or max is left out: the range "
     "[-1, inf] has no midpoint to start from"),
    ({"spec.parameters[3].step": 0.3},
     "spec.parameters[3].step: must divide max - min = 2 (got 0.3)"),
    ({"spec.parameters[3].name": "lr"}, "spec.parameters[3].name: duplicate name 'lr'"),
    ({f"{CONTAINER}.args": ["--d=${params.depth}"]},
     f"{CONTAINER}.args[0]: ${{params.depth}} names no declared parameter "
     "(declared: dropout, lr, momentum, width)"),
    ({"metadata": {}}, "metadata.name: required field is missing"),
])
def test_one_line_per_problem(edits: dict[str, Any], line: str) -> None:
    assert _lines(Case("x", edits).manifest()) == [line]


def test_typo_is_reported_as_unknown_field() -> None:
    [line] = _lines(Case("x", {"spec.budget.maxTrial": 3}).manifest())
    assert line.startswith("spec.budget.maxTrial: unknown field")


def test_wrong_kind_and_version_are_reported_before_the_spec() -> None:
    assert _lines({"apiVersion": "v1", "kind": "Pod"}) == [
        "apiVersion: expected carbs.dev/v1alpha1 (got 'v1')",
        "kind: expected CarbsStudy or CarbsTrial (got 'Pod')",
    ]
    assert _lines(["not", "a", "mapping"]) == ["expected a mapping (a YAML object), got list"]


def test_parse_study_returns_a_model_or_raises_with_every_problem() -> None:
    study = parse_study(base_study())
    assert isinstance(study, CarbsStudy)
    assert study.spec.carbs.resample_frequency == 5
    assert study.spec.completion_policy.running_trials == "delete"
    with pytest.raises(ManifestError) as info:
        parse_study(Case("x", {"spec.parallelism": 0, "spec.suspend": 1}).manifest())
    assert [p.path for p in info.value.problems] == ["spec.parallelism", "spec.suspend"]


def test_round_trip_through_the_model_keeps_camel_case_and_unknown_template_fields() -> None:
    obj = Case("x", {f"{CONTAINER}.volumeMounts": [{"name": "d", "mountPath": "/d"}]}).manifest()
    dumped = parse_study(obj).model_dump(by_alias=True, exclude_none=True, mode="json")
    container = dumped["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"] == [{"name": "d", "mountPath": "/d"}]
    assert dumped["spec"]["parameters"][1]["roundingFactor"] == 8
    assert parse_study(dumped) == parse_study(obj)


@pytest.mark.parametrize(("space", "low", "high", "center"), [
    ("linear", -1, 3, 1.0), ("log", 1e-4, 1.0, 1e-2), ("logit", 0.1, 0.9, 0.5),
])
def test_default_search_center_is_the_middle_of_the_space(
    space: str, low: float, high: float, center: float
) -> None:
    param = Parameter(name="p", space=ParameterSpace(space), min=low, max=high)
    assert param.effective_search_center() == pytest.approx(center)


def test_yaml_numbers_follow_kubectl_not_yaml_1_1() -> None:
    obj, problems = load_yaml("a: 1e-5\nb: 1.0e15\nc: 2024-01-02\nd: 7\ne: '1e-5'\nf: yes\n")
    assert problems == []
    assert obj == {"a": 1e-5, "b": 1e15, "c": "2024-01-02", "d": 7, "e": "1e-5", "f": True}


@pytest.mark.parametrize(("text", "message"), [
    ("a: [1, 2", "invalid YAML at line 1, column 9"),
    ("a: 1\na: 2\n", "duplicate key 'a'"),
    ("a: &x [1]\nb: *x\n", "aliases"),
    ("[" * 1200 + "]" * 1200, "invalid YAML"),
    ("--- {a: 1}\n--- {b: 2}\n", "expected one YAML document, found 2"),
    ("", "expected one YAML document, found 0"),
    ("a: !!python/object:os.system ls", "invalid YAML"),
    ("x" * (1024 * 1024 + 1), "larger than"),
])
def test_bad_yaml_is_a_problem_not_an_exception(text: str, message: str) -> None:
    obj, problems = load_yaml(text)
    assert obj is None
    assert len(problems) == 1
    assert message in str(problems[0])


def test_load_study_from_file(tmp_path: Path) -> None:
    assert load_study("examples/digits-mlp/study.yaml").metadata.name == "digits-mlp"
    with pytest.raises(ManifestError, match="cannot read"):
        load_study(tmp_path / "missing.yaml")


def test_format_path_quotes_keys_that_are_not_identifiers() -> None:
    assert format_path(("spec", "parameters", 1, "min")) == "spec.parameters[1].min"
    assert format_path(("metadata", "labels", "carbs.dev/study")) == (
        "metadata.labels['carbs.dev/study']")
    assert str(Problem("", "whole file")) == "whole file"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(path=st.sampled_from(["spec", "spec.parameters", "spec.parameters[0]",
                             "spec.parameters[0].min", "spec.trialTemplate",
                             f"{CONTAINER}", f"{CONTAINER}.args", "metadata", "spec.cost"]),
       value=_json)
def test_any_value_anywhere_gives_problems_not_exceptions(path: str, value: Any) -> None:
    problems = validate_manifest(Case("x", {path: value}).manifest())
    assert all(isinstance(p, Problem) for p in problems)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_gives_problems(text: str) -> None:
    obj, problems = load_yaml(text)
    assert (obj is None) == bool(problems)
