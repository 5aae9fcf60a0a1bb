"""Rendering trials: placeholders, env vars and the Job manifest."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbs_operator.models import StudySpec
from carbs_operator.template import (
    TemplateError,
    build_job,
    format_param,
    render_command,
    render_env,
    requested_gpus,
    substitute,
)
from carbs_operator.validation import parse_study
from tests.operator.manifest_cases import CONTAINER, Case, base_study

PARAMS = {"lr": 0.003, "width": 64.0, "dropout": 0.1, "momentum": -0.25}
OWNER = {"apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsTrial", "name": "digits-3",
         "uid": "u-1", "controller": True, "blockOwnerDeletion": True}


def _spec(**edits: Any) -> StudySpec:
    return parse_study(Case("x", edits).manifest()).spec


def test_render_command_formats_ints_as_ints_and_floats_exactly() -> None:
    assert render_command(_spec(), PARAMS) == ["python", "train.py", "--lr=0.003", "--width=64"]
    assert render_command(_spec(), {**PARAMS, "lr": 1e-5})[2] == "--lr=1e-05"
    assert float(render_command(_spec(), {**PARAMS, "lr": 0.1 + 0.2})[2][5:]) == 0.1 + 0.2


@pytest.mark.parametrize(("value", "integer", "text"), [
    (64, True, "64"), (64.0, True, "64"), (3, False, "3"), (2.0, False, "2.0"),
    (1e-05, False, "1e-05"), (-0.5, False, "-0.5"), (1e300, False, "1e+300"),
])
def test_format_param(value: float, integer: bool, text: str) -> None:
    assert format_param(value, integer) == text


@pytest.mark.parametrize(("value", "integer"), [
    (math.nan, False), (math.inf, False), (64.5, True), (True, False), ("1", False),
])
def test_format_param_refuses_what_is_not_a_clean_number(value: Any, integer: bool) -> None:
    with pytest.raises(TemplateError):
        format_param(value, integer)


def test_params_must_match_the_declared_parameters() -> None:
    with pytest.raises(TemplateError, match="missing momentum; undeclared depth"):
        render_command(_spec(), {"lr": 0.1, "width": 8, "dropout": 0.1, "depth": 3})
    with pytest.raises(TemplateError, match="'width' must be a whole number"):
        render_command(_spec(), {**PARAMS, "width": 8.5})


def test_render_command_needs_a_command_locally() -> None:
    with pytest.raises(TemplateError, match="command is empty"):
        render_command(_spec(**{f"{CONTAINER}.command": []}), PARAMS)


def test_render_env() -> None:
    env = render_env(_spec(), "digits", "digits-3", PARAMS)
    assert env["CARBS_STUDY"] == "digits"
    assert env["CARBS_TRIAL"] == "digits-3"
    assert env["CARBS_PARAM_LR"] == "0.003"
    assert env["CARBS_PARAM_WIDTH"] == "64"
    assert env["DROPOUT"] == "0.1"
    assert json.loads(env["CARBS_PARAMS"]) == {"lr": 0.003, "width": 64, "dropout": 0.1,
                                               "momentum": -0.25}
    assert "CARBS_RESULT_FILE" not in env


def test_build_job() -> None:
    spec = _spec(**{"spec.trialTemplate.metadata": {"labels": {"team": "ml"}},
                    f"{CONTAINER}.terminationMessagePath": "/tmp/msg",
                    f"{CONTAINER}.resources": {"limits": {"nvidia.com/gpu": 2}}})
    job = build_job("digits", "ml", "digits-3", 3, spec, PARAMS, OWNER)
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    meta = job["metadata"]
    assert meta["name"] == "digits-3"
    assert meta["namespace"] == "ml"
    assert meta["ownerReferences"] == [OWNER]
    assert meta["labels"] == {"team": "ml", "carbs.dev/study": "digits",
                              "carbs.dev/trial": "digits-3",
                              "app.kubernetes.io/managed-by": "carbs-operator"}
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["carbs.dev/trial"] == "digits-3"
    assert pod["spec"]["restartPolicy"] == "Never"
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["--lr=0.003", "--width=64"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CARBS_PARAM_WIDTH"]["value"] == "64"
    assert env["DROPOUT"]["value"] == "0.1"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["CARBS_TERMINATION_LOG"]["value"] == "/tmp/msg"
    assert "CARBS_RESULT_FILE" not in env
    names = [e["name"] for e in container["env"]]
    assert names.index("CARBS_PARAMS") < names.index("DROPOUT")  # $(CARBS_...) resolvable
    assert requested_gpus(spec) == 2
    json.dumps(job, allow_nan=False)


def test_build_job_keeps_the_template_settings_and_does_not_mutate_the_spec() -> None:
    spec = _spec(**{"spec.trialTemplate.spec.backoffLimit": 2,
                    "spec.trialTemplate.spec.template.spec.restartPolicy": "OnFailure"})
    before = spec.model_dump()
    job = build_job("digits", "ml", "digits-3", 3, spec, PARAMS, OWNER)
    assert job["spec"]["backoffLimit"] == 2
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert spec.model_dump() == before


def test_substitute_unknown_name_is_an_error() -> None:
    with pytest.raises(TemplateError, match="depth"):
        substitute("${params.depth}", {"lr": "1"})


_hostile = st.text(alphabet=st.sampled_from(list("ab ${}.'\"\n;|&`-=params")), max_size=12)


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.lists(st.one_of(_hostile, st.just("${params.lr}"),
                                          st.just("${params.width}")), max_size=4), max_size=5),
       values=st.dictionaries(st.sampled_from(["lr", "width"]), _hostile, min_size=2))
def test_substitution_cannot_add_or_remove_elements(
    pieces: list[list[str]], values: dict[str, str]
) -> None:
    """Even with shell and YAML syntax in the values, one element stays one element."""
    args = ["".join(parts) for parts in pieces]
    try:
        rendered = [substitute(arg, values) for arg in args]
    except TemplateError:
        return  # a stray unknown placeholder formed by the hostile text: refused, fine
    assert len(rendered) == len(args)
    for arg, out in zip(args, rendered, strict=True):
        expected = arg.replace("${params.lr}", "\0").replace("${params.width}", "\1")
        assert out == expected.replace("\0", values["lr"]).replace("\1", values["width"])


@settings(max_examples=100, deadline=None)
@given(lr=st.floats(min_value=1e-5, max_value=1.0), width=st.integers(8, 1024),
       dropout=st.floats(min_value=0.01, max_value=0.5), momentum=st.floats(-1, 1))
def test_rendered_job_has_fixed_shape_and_exact_values(
    lr: float, width: int, dropout: float, momentum: float
) -> None:
    spec = parse_study(base_study()).spec
    params = {"lr": lr, "width": width, "dropout": dropout, "momentum": momentum}
    command = render_command(spec, params)
    assert len(command) == 4
    assert float(command[2].removeprefix("--lr=")) == lr
    assert int(command[3].removeprefix("--width=")) == width
    job = build_job("digits", "ml", "digits-3", 3, spec, params, OWNER)
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert len(env) == 10  # 3 CARBS_* + 4 params + POD_NAME + POD_NAMESPACE + DROPOUT
    assert json.loads(next(e["value"] for e in env if e["name"] == "CARBS_PARAMS")) == params


def _discrete_spec() -> StudySpec:
    return _spec(**{
        "spec.parameters[3]": {"name": "momentum", "space": "categorical",
                               "choices": ["adam", "sgd; rm -rf /", "Lion"]},
        "spec.parameters[2]": {"name": "dropout", "space": "ordinal",
                               "values": [0.5, 1, 2.5]},
        f"{CONTAINER}.args": ["--opt=${params.momentum}", "--d=${params.dropout}"],
    })


def test_a_choice_is_its_exact_string_and_an_ordinal_its_own_type() -> None:
    spec = _discrete_spec()
    params: dict[str, float | str] = {"lr": 0.003, "width": 64, "dropout": 1.0,
                                      "momentum": "sgd; rm -rf /"}
    assert render_command(spec, params)[2:] == ["--opt=sgd; rm -rf /", "--d=1"]
    env = render_env(spec, "digits", "digits-3", params)
    assert env["CARBS_PARAM_MOMENTUM"] == "sgd; rm -rf /"
    assert env["CARBS_PARAM_DROPOUT"] == "1"  # the declared entry 1, though 1.0 came back
    as_json = json.loads(env["CARBS_PARAMS"])
    assert as_json["momentum"] == "sgd; rm -rf /"
    assert as_json["dropout"] == 1
    assert isinstance(as_json["dropout"], int)
    assert json.loads(render_env(spec, "d", "d-1", {**params, "dropout": 2.5})[
        "CARBS_PARAMS"])["dropout"] == 2.5


@pytest.mark.parametrize(("name", "value", "message"), [
    ("momentum", "lion", "must be one of the choices"),  # choices are case-sensitive
    ("momentum", 1, "must be one of the choices"),
    ("dropout", 3, "must be one of the values"),
    ("dropout", "1", "must be one of the values"),
])
def test_a_value_outside_the_declared_ones_is_never_rendered(
    name: str, value: Any, message: str
) -> None:
    params: dict[str, Any] = {"lr": 0.003, "width": 64, "dropout": 1, "momentum": "adam"}
    params[name] = value
    with pytest.raises(TemplateError, match=f"'{name}' {message}"):
        render_command(_discrete_spec(), params)
