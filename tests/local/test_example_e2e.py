"""The shipped example end to end: real torch training on digits, through the `carbs` CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from carbs_operator.cli import main
from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits-mlp"


def test_digits_example_runs_reports_and_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(EXAMPLE / "train.py", tmp_path / "train.py")
    manifest = yaml.safe_load((EXAMPLE / "study.yaml").read_text(encoding="utf-8"))
    manifest["spec"]["budget"]["maxTrials"] = 5  # a shorter budget than the shipped one
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    state = tmp_path / "state"

    assert main(["validate", str(study)]) == 0
    assert main(["run", str(study), "--state-dir", str(state), "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert "Pareto frontier" in output
    assert "Scaling laws" in output
    assert str(state / "digits-mlp.db") in output

    with TrialStore(state / "digits-mlp.db") as store:
        trials = store.trials()
    assert len(trials) == 5
    assert all(t.phase == TrialPhase.SUCCEEDED for t in trials)
    for trial in trials:
        assert trial.objective is not None
        assert 0 < trial.objective < 3  # cross-entropy over 10 classes, really trained
        assert trial.metrics["flops"] == trial.cost
        assert 0 <= trial.metrics["val_accuracy"] <= 1
        # train.py reports its validation loss and FLOPs so far as it trains: the curve
        # ends where the result is, and it was read while the trial ran.
        assert 2 <= len(trial.curve) <= 20
        assert trial.curve[-1].objective == trial.objective
        assert trial.curve[-1].cost == trial.cost
        assert trial.progress_warning is None

    assert main(["frontier", str(study), "--state-dir", str(state)]) == 0
    assert "Pareto frontier" in capsys.readouterr().out
    picture = tmp_path / "digits.png"
    assert main(["plot", str(study), "--state-dir", str(state), "-o", str(picture),
                 "--curves"]) == 0
    assert picture.read_bytes().startswith(b"\x89PNG")
