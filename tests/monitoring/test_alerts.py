"""The chart's alert rules: regenerated, valid for promtool, naming only exposed metrics, and
unit-tested by promtool (rules_test.yaml) with each alert firing and not firing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbs_operator.alerts import AlertSettings, build_rules, duration_seconds, main, render
from tests.monitoring.promql import Exposition, problems

ROOT = Path(__file__).parents[2]
COMMITTED = ROOT / "charts" / "carbs-operator" / "files" / "prometheus-rules.yaml"
UNIT_TESTS = Path(__file__).with_name("rules_test.yaml")
REGENERATE = "python -m carbs_operator.alerts > charts/carbs-operator/files/prometheus-rules.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not on PATH (apt-get install prometheus provides it)")


def rules(settings: AlertSettings | None = None) -> list[dict[str, Any]]:
    return list(build_rules(settings)["groups"][0]["rules"])


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_committed_rules_are_regenerated() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render(), (
        f"{COMMITTED.relative_to(ROOT)} is stale: run `{REGENERATE}` and commit it")
    assert yaml.safe_load(COMMITTED.read_text(encoding="utf-8")) == build_rules()


def test_module_prints_the_rules() -> None:
    result = subprocess.run([sys.executable, "-m", "carbs_operator.alerts"],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout == render()


def test_alerts_and_their_labels() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    assert set(by_name) == {"CarbsOperatorDown", "CarbsStudyStalled",
                            "CarbsHighTrialFailureRatio", "CarbsSuggestLatencyHigh",
                            "CarbsReconcileErrors"}
    assert by_name["CarbsOperatorDown"]["labels"]["severity"] == "critical"
    for rule in rules():
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert {"summary", "description"} <= set(rule["annotations"])
        duration_seconds(rule["for"])
        if rule["alert"] != "CarbsOperatorDown":  # per study: say which one
            assert "$labels.study" in rule["annotations"]["summary"]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_expression_names_exposed_metrics(rule: dict[str, Any], exposition: Exposition) -> None:
    assert problems(rule["expr"], exposition, synthetic=frozenset({"up"})) == []


@needs_promtool
def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", str(COMMITTED))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests() -> None:
    result = promtool("test", "rules", str(UNIT_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_cover_each_alert_firing_and_not_firing() -> None:
    document = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    assert document["rule_files"] == ["../../charts/carbs-operator/files/prometheus-rules.yaml"]
    cases = [case for group in document["tests"] for case in group["alert_rule_test"]]
    for rule in rules():
        name = rule["alert"]
        assert any(c["alertname"] == name and c["exp_alerts"] for c in cases), f"{name} fires"
        assert any(c["alertname"] == name and not c["exp_alerts"] for c in cases), (
            f"{name} stays quiet")


@needs_promtool
@pytest.mark.parametrize("settings", [
    AlertSettings(target_selector='job="carbs"'),
    AlertSettings(stalled_after="2h"),
    AlertSettings(failure_ratio=0.7),
    AlertSettings(failure_min_trials=200),
    AlertSettings(suggest_p95_seconds=60),
    AlertSettings(errors_for="30m"),
], ids=["selector", "stalled", "ratio", "min-trials", "latency", "errors"])
def test_unit_tests_catch_a_changed_threshold(settings: AlertSettings, tmp_path: Path) -> None:
    """Each threshold is pinned by rules_test.yaml: change it and promtool's tests fail."""
    (tmp_path / "rules.yaml").write_text(render(settings), encoding="utf-8")
    document = yaml.safe_load(UNIT_TESTS.read_text(encoding="utf-8"))
    document["rule_files"] = ["rules.yaml"]
    (tmp_path / "rules_test.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    assert promtool("check", "rules", str(tmp_path / "rules.yaml")).returncode == 0
    assert promtool("test", "rules", str(tmp_path / "rules_test.yaml")).returncode != 0


def test_target_selector_is_a_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--target-selector", 'service="carbs-metrics"', "--stalled-after", "3h"]) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    expressions = {r["alert"]: r["expr"] for r in document["groups"][0]["rules"]}
    assert 'absent(up{service="carbs-metrics"})' in expressions["CarbsOperatorDown"]
    assert "> 10800" in expressions["CarbsStudyStalled"]


@pytest.mark.parametrize("bad", [
    {"target_selector": ""}, {"target_selector": '{job="x"}'}, {"stalled_after": "1 hour"},
    {"failure_ratio": 1.5}, {"failure_min_trials": 0},
])
def test_bad_settings_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each message is specific to its field
        AlertSettings(**bad)


def test_bad_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--stalled-after", "soon"])
    assert exit_info.value.code == 2
    assert "duration must look like" in capsys.readouterr().err
