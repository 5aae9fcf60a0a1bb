"""A study with every parameter kind through `carbs run`: real subprocess trials that check
what they receive, real SQLite, the CLI's report."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from carbs_operator.cli import main
from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase
from carbs_operator.replay import scaling_laws
from carbs_operator.validation import load_study
from tests.local.kinds_trial import CHOICES, problems
from tests.operator.manifest_cases import KINDS
from tests.support.builders import quad_manifest

HERE = Path(__file__).parent
# A few kinds also reach the trial as ${params.x} placeholders; the trial compares them
# with its env.
ARGS = ["--optimizer=${params.optimizer}", "--batch=${params.batch}", "--size=${params.size}",
        "--drop_rate=${params.drop_rate}", "--shift=${params.shift}"]


def kinds_manifest(trials: int) -> dict[str, object]:
    manifest = quad_manifest(
        name="kinds", parameters=copy.deepcopy(KINDS),
        budget={"maxTrials": trials}, objective={"metric": "loss", "direction": "minimize"},
        cost={"metric": "cost"}, carbs={"seed": 3, "numRandomSamples": 3},
    )
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container.update(command=["python", "kinds_trial.py"], args=ARGS)
    return manifest


def test_every_kind_runs_locally_and_reaches_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(HERE / "kinds_trial.py", tmp_path / "kinds_trial.py")
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(kinds_manifest(trials=10)), encoding="utf-8")
    state = tmp_path / "state"

    assert main(["validate", str(study)]) == 0
    assert main(["run", str(study), "--state-dir", str(state), "--device", "cpu"]) == 0
    output = capsys.readouterr().out

    with TrialStore(state / "kinds.db") as store:
        trials = store.trials()
    assert len(trials) == 10
    reasons = [t.failure_reason for t in trials if t.phase != TrialPhase.SUCCEEDED]
    assert reasons == []  # every trial got values of the right kind (it checks, and fails)
    for trial in trials:
        assert problems(dict(trial.params)) == []
    # The search moved: more than one choice and more than one batch size were tried.
    assert len({t.params["optimizer"] for t in trials}) > 1
    assert len({t.params["batch"] for t in trials}) > 1
    # The report: the frontier table, and value bands (not exponents) for discrete kinds.
    assert "Pareto frontier" in output
    assert "Scaling laws" in output
    laws = {law.parameter: law for law in scaling_laws(load_study(study).spec, trials)}
    for name in ("optimizer", "activation", "batch", "size", "ratio"):
        assert laws[name].exponent is None
        bands = laws[name].bands or ()
        assert bands
        assert sum(b.points for b in bands) == laws[name].points
        assert [b.min_cost for b in bands] == sorted(b.min_cost for b in bands)
    assert {b.value for b in laws["optimizer"].bands or ()} <= set(CHOICES["optimizer"])
    assert laws["step_lr"].bands is None
