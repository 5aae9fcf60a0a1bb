"""spec.tracking.wandb in offline mode: tune() writes a W&B run per trial and one for the
study, in the study's group, and the files say so (read back by wandb_files.py).

Real: wandb (its Go core writes the files), the local runner and its trial subprocesses.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from carbs_operator import tune
from tests.tracking.trial_functions import train_wandb
from tests.tracking.wandb_files import by_kind

pytest.importorskip("wandb")

PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "space": "log", "min": 1e-4, "max": 1.0, "searchCenter": 1e-3},
    {"name": "width", "space": "log", "min": 4, "max": 256, "integer": True, "searchCenter": 16},
]


def finished_runs(folder: Path, count: int, timeout: float = 120.0) -> dict[str, Path]:
    """The run files once `count` of them hold their exit record. tune() gives trackers
    10 s at the end and leaves the rest to their thread: on a loaded machine W&B may need
    longer than that, and the thread goes on in this process."""
    deadline = time.monotonic() + timeout
    while True:
        files = {path.name: path for path in folder.glob("offline-run-*/run-*.wandb")}
        done = [path for path in files.values() if by_kind(path, "exit")]
        if len(done) >= count or time.monotonic() > deadline:
            return files
        time.sleep(0.5)


def items(updates: Any) -> dict[str, Any]:
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json)
            for item in updates}


def test_offline_runs_hold_the_trials_and_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = tune(train_wandb, parameters=PARAMETERS,
                  objective={"metric": "loss", "direction": "minimize"},
                  cost={"metric": "flops"}, budget={"maxTrials": 3}, parallelism=2,
                  progress=False, name="wb", state_dir=tmp_path / "state",
                  tracking={"wandb": {"project": "carbs-test", "mode": "offline"}})
    assert [t.phase.value for t in result.records] == ["Succeeded"] * 3
    files = finished_runs(tmp_path / "state" / "wb" / "wandb", 4)
    assert sorted(files) == ["run-wb-0.wandb", "run-wb-1.wandb", "run-wb-2.wandb",
                             "run-wb-study.wandb"]
    frontier = {t.index for t in result.frontier_trials}
    for record in result.records:
        path = files[f"run-wb-{record.index}.wandb"]
        run = by_kind(path, "run")[0]
        assert (run.project, run.run_group, run.job_type) == ("carbs-test", "wb", "trial")
        assert items(run.config.update)["lr"] == pytest.approx(record.params["lr"])
        summary: dict[str, Any] = {}
        for update in by_kind(path, "summary"):
            summary.update(items(update.update))
        assert summary["loss"] == pytest.approx(record.objective)
        assert summary["carbs.phase"] == "Succeeded"
        assert summary["carbs.frontier"] == str(record.index in frontier).lower()
        steps = [items(h.item) for h in by_kind(path, "history")]
        # The progress curve (steps 0-2), then the final metrics one step later.
        assert [step["_step"] for step in steps] == [0, 1, 2, 3]
        assert steps[2]["loss"] == pytest.approx(record.curve[-1].objective)
        assert steps[3]["objective"] == pytest.approx(record.objective)
    study = files["run-wb-study.wandb"]
    assert by_kind(study, "run")[0].job_type == "study"
    logged: dict[str, Any] = {}
    for history in by_kind(study, "history"):
        logged.update(items(history.item))
    best = result.best
    assert best is not None
    assert logged["best_objective"] == pytest.approx(best.objective)
    # Media (the plot, the tables) are logged as nested keys: frontier_plot/path, ...
    assert {"frontier", "laws", "frontier_plot"} <= {key.split("/")[0] for key in logged}


def test_carbs_run_honours_spec_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifest's spec.tracking under `carbs run` (the same StudyTracker tune() uses)."""
    from carbs_operator import to_manifest
    from carbs_operator.local.commands import run_command

    monkeypatch.chdir(tmp_path)
    manifest = tmp_path / "study.yaml"
    manifest.write_text(to_manifest(
        train_wandb, parameters=PARAMETERS, objective={"metric": "loss", "direction": "minimize"},
        cost={"metric": "flops"}, budget={"maxTrials": 2}, parallelism=2, name="wb",
        tracking={"wandb": {"project": "carbs-test", "mode": "offline"}}))
    assert run_command(manifest, tmp_path / "state") == 0
    names = sorted(finished_runs(tmp_path / "state" / "wb" / "wandb", 3))
    assert names == ["run-wb-0.wandb", "run-wb-1.wandb", "run-wb-study.wandb"]
