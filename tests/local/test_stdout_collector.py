"""spec.metricsCollector StdOut under `carbs run`: real subprocess trials that print their
metrics (printing_trial.py never imports the SDK), read from each trial's output.log."""

from __future__ import annotations

import math
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from carbs_operator.local.runner import LocalRunner
from carbs_operator.models import TrialPhase
from carbs_operator.study import TrialRecord
from carbs_operator.validation import load_study
from tests.local.conftest import HERE
from tests.support.builders import quad_manifest


def run_printing_study(tmp_path: Path, collector: dict[str, Any], *extra: str,
                       max_trials: int = 4) -> list[TrialRecord]:
    shutil.copy(HERE / "printing_trial.py", tmp_path / "printing_trial.py")
    manifest = quad_manifest(extra_args=list(extra), metricsCollector=collector,
                              budget={"maxTrials": max_trials})
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "printing_trial.py"]
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    study = load_study(path)
    return LocalRunner(study, tmp_path, tmp_path / "state", device="cpu",
                       poll_seconds=0.05).run()


def true_loss(params: Mapping[str, Any]) -> float:
    return float((math.log10(params["lr"]) + 2) ** 2 + (params["x"] - 0.3) ** 2
                 + 1 / params["size"])


def test_katib_text_output_is_the_result_latest_by_default(tmp_path: Path) -> None:
    trials = run_printing_study(tmp_path, {"kind": "StdOut"})
    assert len(trials) == 4
    for trial in trials:
        assert trial.phase == TrialPhase.SUCCEEDED, trial.failure_reason
        assert trial.objective is not None
        assert math.isclose(trial.objective, true_loss(trial.params), rel_tol=1e-12)
        assert trial.cost == trial.params["size"]
        assert "grad_norm" not in trial.metrics  # printed as nan: not a number here


def test_json_lines_with_a_min_strategy(tmp_path: Path) -> None:
    collector = {"kind": "StdOut", "format": "JSON",
                 "metricStrategies": [{"name": "loss", "value": "min"}]}
    trials = run_printing_study(tmp_path, collector, "--json", max_trials=2)
    for trial in trials:
        assert trial.phase == TrialPhase.SUCCEEDED, trial.failure_reason
        assert trial.objective is not None
        assert math.isclose(trial.objective, 0.5 * true_loss(trial.params), rel_tol=1e-12)
        assert trial.metrics["epoch"] == 2


def test_output_without_the_metric_or_too_long_fails_the_trial(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    nothing = run_printing_study(tmp_path / "a", {"kind": "StdOut"}, "--no-result",
                                 max_trials=1)
    assert nothing[0].phase == TrialPhase.FAILED
    assert "no line of the output matches metricsFormat" in (nothing[0].failure_reason or "")
    huge = run_printing_study(tmp_path / "b", {"kind": "StdOut"}, "--huge=9", max_trials=1)
    assert huge[0].phase == TrialPhase.FAILED
    assert (huge[0].failure_reason or "").startswith("output too long to read its metrics")
