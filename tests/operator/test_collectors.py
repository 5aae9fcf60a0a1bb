"""The metrics collectors (carbs_operator.collectors) on printed output, and their manifest
checks: what a Katib-style or JSON-printing script yields, and what fails its trial."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.collectors import (
    DEFAULT_METRICS_FORMAT,
    MAX_OUTPUT_BYTES,
    collect,
    metrics_from_json_lines,
    metrics_from_text,
)
from carbs_operator.models import StudySpec
from carbs_operator.validation import validate_manifest
from tests.support.builders import study_manifest, study_spec


def spec_with(collector: dict[str, Any] | None, cost: dict[str, Any] | None = None) -> StudySpec:
    changes = {"metricsCollector": collector, "cost": cost}
    return study_spec(**{name: value for name, value in changes.items() if value is not None})


KATIB_OUTPUT = """\
epoch 0: val_loss=0.9 flops=1e9
INFO something else happened, lr = 3e-4 (ignored: lr is printed too, kept as a metric)
epoch 1: val_loss=0.4 flops=1e9 grad_norm=nan
val-acc = 9.1e-1
epoch 2: val_loss = 0.55 flops=1.0e+09
"""


def test_katib_text_defaults_keep_the_latest_value() -> None:
    metrics = metrics_from_text(KATIB_OUTPUT, [DEFAULT_METRICS_FORMAT], {})
    assert metrics == {"val_loss": 0.55, "flops": 1e9, "lr": 3e-4, "val-acc": 0.91}


def test_strategies_pick_min_or_max_over_every_printed_value() -> None:
    metrics = metrics_from_text(KATIB_OUTPUT, [DEFAULT_METRICS_FORMAT],
                                {"val_loss": "min", "flops": "max"})
    assert metrics["val_loss"] == 0.4
    assert metrics["flops"] == 1e9


def test_custom_regexes_with_two_groups_or_named_groups() -> None:
    text = "step 3 | loss: 0.25 | acc: 0.5\nfinal accuracy 0.75\n"
    metrics = metrics_from_text(
        text, [r"(\w+): ([\d.]+)", r"final (?P<name>accuracy) (?P<value>[\d.]+)"], {})
    assert metrics == {"loss": 0.25, "acc": 0.5, "accuracy": 0.75}


def test_json_lines_the_last_line_holding_the_objective_wins() -> None:
    text = "\n".join([
        json.dumps({"val_loss": 0.9, "flops": 1e9}),
        "not json {",
        "{broken json}",
        json.dumps({"val_loss": 0.3, "flops": 2e9, "phase": "val", "done": True}),
        json.dumps({"throughput": 1200}),  # after the winner, without the objective
        "[1, 2]",
    ])
    assert metrics_from_json_lines(text, "val_loss", {}) == {"val_loss": 0.3, "flops": 2e9}
    assert (metrics_from_json_lines(text, "val_loss", {"flops": "min"}) or {})["flops"] == 1e9
    assert metrics_from_json_lines(text, "accuracy", {}) is None


def test_collect_turns_output_into_a_result_or_a_reason() -> None:
    text_spec = spec_with({"kind": "StdOut"})
    collected = collect(text_spec, None, KATIB_OUTPUT)
    assert collected.failure is None
    assert json.loads(collected.result_text or "") == {
        "val_loss": 0.55, "flops": 1e9, "lr": 3e-4, "val-acc": 0.91}
    assert "matches metricsFormat" in (collect(text_spec, None, "nothing here\n").failure or "")
    gone = collect(text_spec, None, None, "no output: the log of pod p-0 (train) is gone")
    assert gone.failure == "no output: the log of pod p-0 (train) is gone"
    huge = collect(text_spec, None, "x" * (MAX_OUTPUT_BYTES + 1))
    assert (huge.failure or "").startswith("output too long")
    json_spec = spec_with({"kind": "StdOut", "format": "JSON"})
    assert "JSON object holding the objective 'val_loss'" in (
        collect(json_spec, None, KATIB_OUTPUT).failure or "")
    # Report ignores the output and passes what report() published.
    assert collect(spec_with(None), '{"val_loss": 1}', "val_loss=2").result_text == \
        '{"val_loss": 1}'


def test_a_nan_objective_reaches_the_parser_but_a_nan_diagnostic_is_dropped() -> None:
    spec = spec_with({"kind": "StdOut", "format": "JSON"})
    line = '{"val_loss": NaN, "flops": 3, "grad_norm": NaN}'
    kept = collect(spec, None, line).result_text or ""
    assert "val_loss" in kept
    assert "grad_norm" not in kept


BAD_COLLECTORS = [
    ({"kind": "Report", "format": "JSON"}, "spec.metricsCollector.format",
     "applies to kind StdOut"),
    ({"kind": "Report", "metricStrategies": [{"name": "a", "value": "min"}]},
     "spec.metricsCollector.metricStrategies", "applies to kind StdOut"),
    ({"kind": "StdOut", "format": "JSON", "metricsFormat": [r"(\w+)=(\d+)"]},
     "spec.metricsCollector.metricsFormat", "applies to format Text"),
    ({"kind": "StdOut", "metricsFormat": [r"(\w+"]}, "spec.metricsCollector.metricsFormat[0]",
     "is not a valid regular expression"),
    ({"kind": "StdOut", "metricsFormat": [r"loss=(\d+)"]},
     "spec.metricsCollector.metricsFormat[0]", "exactly two groups"),
    ({"kind": "StdOut", "metricStrategies": [{"name": "a", "value": "min"},
                                             {"name": "a", "value": "max"}]},
     "spec.metricsCollector.metricStrategies[1].name", "duplicate metric 'a'"),
    ({"kind": "StdOut", "metricStrategies": [{"name": "a", "value": "median"}]},
     "spec.metricsCollector.metricStrategies[0].value", "must be"),
    ({"kind": "Stdout"}, "spec.metricsCollector.kind", "must be"),
]


@pytest.mark.parametrize(("collector", "path", "message"), BAD_COLLECTORS)
def test_carbs_validate_names_the_collector_field(
    collector: dict[str, Any], path: str, message: str
) -> None:
    problems = validate_manifest(study_manifest(metricsCollector=collector))
    assert any(p.path == path and message in p.message for p in problems), problems


def test_the_guide_shows_the_default_regex_as_the_code_has_it() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "reporting.md").read_text(encoding="utf-8")
    assert f"'{DEFAULT_METRICS_FORMAT}'" in guide
