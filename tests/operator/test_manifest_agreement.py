"""The pydantic models and the CRD they generate must accept and refuse the same manifests.

`carbs validate` (pydantic) and `kubectl apply` (the CRD, replayed by crd_harness) are two
front doors to one format; a manifest that passes one and fails the other is a bug.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from carbs_operator.crd import study_crd, trial_crd
from carbs_operator.validation import validate_file, validate_manifest
from tests.operator.crd_harness import admission_errors
from tests.operator.manifest_cases import (
    BAD_FOR_BOTH,
    BAD_TRIALS,
    GOOD,
    GOOD_TRIALS,
    ONLY_PYDANTIC,
    Case,
    base_study,
)

STUDY_CRD = study_crd()
TRIAL_CRD = trial_crd()


def _crd_for(obj: dict[str, Any]) -> dict[str, Any]:
    return STUDY_CRD if obj["kind"] == "CarbsStudy" else TRIAL_CRD


@pytest.mark.parametrize("case", GOOD + GOOD_TRIALS, ids=lambda c: c.id)
def test_good_manifest_accepted_by_both(case: Case) -> None:
    obj = case.manifest()
    assert validate_manifest(obj) == []
    assert admission_errors(obj, _crd_for(obj)) == []


@pytest.mark.parametrize("case", BAD_FOR_BOTH + BAD_TRIALS, ids=lambda c: c.id)
def test_bad_manifest_refused_by_both(case: Case) -> None:
    obj = case.manifest()
    problems = validate_manifest(obj)
    assert case.path in [p.path for p in problems], problems
    assert admission_errors(obj, _crd_for(obj)), "the CRD accepts what the models refuse"


@pytest.mark.parametrize("case", ONLY_PYDANTIC, ids=lambda c: c.id)
def test_checks_the_crd_cannot_express(case: Case) -> None:
    """If the CRD starts refusing one of these, move the case to BAD_FOR_BOTH."""
    obj = case.manifest()
    assert case.path in [p.path for p in validate_manifest(obj)]
    assert admission_errors(obj, STUDY_CRD) == []


@pytest.mark.parametrize("example", ["study.yaml", "study-jobset.yaml", "study-cluster.yaml"])
def test_shipped_example_is_valid_for_both(example: str) -> None:
    from carbs_operator.validation import load_file

    path = f"examples/digits-mlp/{example}"
    obj, problems = load_file(path)
    assert problems == []
    assert validate_file(path) == []
    assert admission_errors(obj, STUDY_CRD) == []


_numbers = st.one_of(
    st.sampled_from([0, 1, -1, 0.5, 1e-9, 0.999, 2, 1e6]),
    st.floats(min_value=-10, max_value=10, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(
    space=st.sampled_from(["linear", "log", "logit"]),
    low=_numbers,
    high=_numbers,
    center=st.one_of(st.none(), _numbers),
    integer=st.booleans(),
    rounding=st.sampled_from([1, 2, 8]),
    scale=st.sampled_from([1.0, 0.5, 0, -1]),
)
def test_parameter_rules_agree(
    space: str, low: float, high: float, center: float | None, integer: bool, rounding: int,
    scale: float,
) -> None:
    """Random parameters: the Python checks and the CEL rules never disagree."""
    param: dict[str, Any] = {"name": "lr", "space": space, "min": low, "max": high,
                             "integer": integer, "roundingFactor": rounding, "scale": scale}
    if center is not None:
        param["searchCenter"] = center
    obj = base_study()
    obj["spec"]["parameters"][0] = param
    accepted_by_models = not validate_manifest(obj)
    accepted_by_crd = not admission_errors(obj, STUDY_CRD)
    assert accepted_by_models == accepted_by_crd, (validate_manifest(obj),
                                                   admission_errors(obj, STUDY_CRD))
    if accepted_by_models:
        assert low < high
        assert all(math.isfinite(v) for v in (low, high))


@settings(max_examples=200, deadline=None)
@given(
    space=st.sampled_from(["linear", "log", "logit"]),
    low=st.one_of(st.none(), _numbers),
    high=st.one_of(st.none(), _numbers),
    center=st.one_of(st.none(), _numbers, st.just("x")),
    step=st.one_of(st.none(), st.sampled_from([0.1, 0.25, 0.3, 1.0, 3.0])),
    integer=st.booleans(),
)
def test_open_and_stepped_parameter_rules_agree(
    space: str, low: float | None, high: float | None, center: float | str | None,
    step: float | None, integer: bool,
) -> None:
    """Bounds left out, steps and searchCenters: the Python checks and CEL agree."""
    param: dict[str, Any] = {"name": "lr", "space": space, "integer": integer, "min": low,
                             "max": high, "step": step, "searchCenter": center}
    obj = base_study()
    obj["spec"]["parameters"][0] = {k: v for k, v in param.items() if v is not None}
    accepted_by_models = not validate_manifest(obj)
    assert accepted_by_models == (not admission_errors(obj, STUDY_CRD)), (
        validate_manifest(obj), admission_errors(obj, STUDY_CRD))


def _models_only(values: list[Any], center: Any) -> bool:
    def same(a: Any, b: Any) -> bool:
        return isinstance(a, str) == isinstance(b, str) and a == b

    repeated = any(same(v, w) for i, v in enumerate(values) for w in values[:i])
    return repeated or (center is not None and not any(same(v, center) for v in values))


_entries = st.lists(st.one_of(st.sampled_from(["a", "b", "c"]), st.sampled_from([1, 2, 2.0, 0.5])),
                    max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    space=st.sampled_from(["categorical", "ordinal", "linear"]),
    choices=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c"]), max_size=4)),
    values=st.one_of(st.none(), _entries),
    center=st.one_of(st.none(), st.sampled_from(["a", "c", 1, 2.0, 3])),
    stray=st.sampled_from([{}, {"min": 0}, {"step": 1.0}, {"integer": False}]),
)
def test_discrete_parameter_rules_agree(
    space: str, choices: list[str] | None, values: list[Any] | None,
    center: str | float | None, stray: dict[str, Any],
) -> None:
    """Choices, values and centers in any combination: the Python checks and CEL agree,
    except where only the models look (repeated ordinal values, an ordinal center that is
    none of them: see ONLY_PYDANTIC)."""
    if space == "ordinal" and values and _models_only(values, center):
        assume(False)
    param: dict[str, Any] = {"name": "lr", "space": space, "choices": choices,
                             "values": values, "searchCenter": center, **stray}
    if space == "linear":
        param.update(min=0, max=4)
    obj = base_study()
    obj["spec"]["parameters"][0] = {k: v for k, v in param.items() if v is not None}
    accepted_by_models = not validate_manifest(obj)
    assert accepted_by_models == (not admission_errors(obj, STUDY_CRD)), (
        validate_manifest(obj), admission_errors(obj, STUDY_CRD))
