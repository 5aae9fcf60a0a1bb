"""Result payloads: clean numbers or a ResultError naming the metric, never anything else."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbs_operator.results import (
    MAX_RESULT_BYTES,
    MIN_MEASURED_COST,
    ResultError,
    extract_objective_and_cost,
    parse_result,
)
from tests.support.builders import study_spec


def test_parse_result() -> None:
    assert parse_result(' {"val_loss": 0.31, "tokens": 2100000000, "n": 3} \n') == {
        "val_loss": 0.31, "tokens": 2.1e9, "n": 3.0}
    assert parse_result("{}") == {}


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("val_loss=0.3", "not JSON"),
    ("[0.3]", "must be a JSON object of metrics, not an array"),
    ('"0.3"', "not a string"),
    ('{"val_loss": "0.3"}', "metric 'val_loss' is not a number (got a string)"),
    ('{"val_loss": null}', "metric 'val_loss' is not a number (got null)"),
    ('{"ok": true}', "metric 'ok' is not a number (got a boolean)"),
    ('{"val_loss": NaN}', "metric 'val_loss' is not finite (got nan)"),
    ('{"val_loss": -Infinity}', "metric 'val_loss' is not finite"),
    ('{"val_loss": 1e999}', "metric 'val_loss' is not finite"),
    ('{"a": 1, "a": 2}', "metric 'a' appears twice"),
    ('{"a": ' + "[" * 100000 + "]" * 100000 + "}", "too large"),
    ("[" * 20000 + "]" * 20000, "not JSON"),
    ('{"a": ' + "9" * 5000 + "}", "not JSON"),
])
def test_parse_result_errors(text: str, reason: str) -> None:
    with pytest.raises(ResultError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_result(text)


def test_payload_limit_is_exact() -> None:
    at_limit = '{"a": 1}'.ljust(MAX_RESULT_BYTES)
    assert parse_result(at_limit) == {"a": 1.0}
    with pytest.raises(ResultError, match="too large"):
        parse_result(at_limit + " ")


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=300),
    st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=4),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                 max_leaves=10).map(lambda v: json.dumps(v)),
))
def test_parse_result_raises_only_result_error(text: str) -> None:
    try:
        metrics = parse_result(text)
    except ResultError as exc:
        reason = str(exc)
        metrics = {}
    else:
        reason = "ok"
    assert reason
    assert all(isinstance(v, float) for v in metrics.values())


def test_objective_and_reported_cost() -> None:
    spec = study_spec(cost={"metric": "flops"})
    assert extract_objective_and_cost({"val_loss": 0.3, "flops": 1e9}, spec, 12.0, 0) == (0.3, 1e9)
    with pytest.raises(ResultError, match="objective metric 'val_loss' is missing"):
        extract_objective_and_cost({"flops": 1e9}, spec, 1.0, 0)
    with pytest.raises(ResultError, match=r"cost metric 'flops' is missing .*has: val_loss"):
        extract_objective_and_cost({"val_loss": 0.3}, spec, 1.0, 0)
    with pytest.raises(ResultError, match="cost metric 'flops' must be > 0"):
        extract_objective_and_cost({"val_loss": 0.3, "flops": 0.0}, spec, 1.0, 0)
    with pytest.raises(ResultError, match="'val_loss' is not finite"):
        extract_objective_and_cost({"val_loss": float("nan"), "flops": 1.0}, spec, 1.0, 0)


def test_measured_costs() -> None:
    metrics = {"val_loss": 0.3}
    runtime = study_spec(cost={"source": "runtimeSeconds"})
    gpu = study_spec(cost={"source": "gpuSeconds"})
    assert extract_objective_and_cost(metrics, runtime, 12.5, 0) == (0.3, 12.5)
    assert extract_objective_and_cost(metrics, runtime, 0.0, 0) == (0.3, MIN_MEASURED_COST)
    assert extract_objective_and_cost(metrics, gpu, 10.0, 4) == (0.3, 40.0)
    with pytest.raises(ResultError, match="gpuSeconds needs GPUs"):
        extract_objective_and_cost(metrics, gpu, 10.0, 0)
    with pytest.raises(ResultError, match="runtime"):
        extract_objective_and_cost(metrics, runtime, float("nan"), 0)
