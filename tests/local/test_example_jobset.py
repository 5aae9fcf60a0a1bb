"""The JobSet variant of the digits example: valid, truly data-parallel (two gloo processes
agree with one), and run by `carbs run` through its primary container, saying so."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from carbs_operator.cli import main
from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits-mlp"
FLAGS = ["--lr=0.01", "--width=32", "--epochs=20"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_gloo_workers_train_what_one_process_trains(tmp_path: Path) -> None:
    port = str(_free_port())
    base = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
    workers = [subprocess.Popen(
        [sys.executable, "train_ddp.py", *FLAGS], cwd=EXAMPLE, stdout=subprocess.PIPE,
        env={**base, "JOB_COMPLETION_INDEX": str(rank),
             "CARBS_RESULT_FILE": str(tmp_path / f"rank{rank}.json")})
        for rank in (0, 1)]
    outputs = [worker.communicate(timeout=120)[0].decode() for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0]
    assert outputs[0].startswith("world_size=2 ")
    assert outputs[1] == ""  # only rank 0 reports
    assert not (tmp_path / "rank1.json").exists()
    distributed = json.loads((tmp_path / "rank0.json").read_text())
    alone = subprocess.run(
        [sys.executable, "train_ddp.py", *FLAGS], cwd=EXAMPLE, check=True, timeout=120,
        env={**os.environ, "CARBS_RESULT_FILE": str(tmp_path / "alone.json")})
    assert alone.returncode == 0
    single = json.loads((tmp_path / "alone.json").read_text())
    assert distributed["flops"] == single["flops"]
    # Averaged shard gradients are the full-batch gradient up to the shards' unequal sizes.
    assert math.isclose(distributed["val_loss"], single["val_loss"], rel_tol=1e-3)


def test_carbs_run_runs_the_primary_container_of_the_jobset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for script in ("train.py", "train_ddp.py"):
        shutil.copy(EXAMPLE / script, tmp_path / script)
    manifest = yaml.safe_load((EXAMPLE / "study-jobset.yaml").read_text(encoding="utf-8"))
    manifest["spec"]["budget"]["maxTrials"] = 2
    study = tmp_path / "study-jobset.yaml"
    study.write_text(yaml.safe_dump(manifest), encoding="utf-8")
    assert main(["validate", str(EXAMPLE / "study-jobset.yaml")]) == 0
    state = tmp_path / "state"
    assert main(["run", str(study), "--state-dir", str(state), "--device", "cpu"]) == 0
    output = capsys.readouterr().out
    assert ("JobSet trials run locally as one process: the primary container 'trainer' "
            "(spec.replicatedJobs[0].template.spec.template.spec.containers[0])") in output
    with TrialStore(state / "digits-mlp-ddp.db") as store:
        trials = store.trials()
    assert [t.phase for t in trials] == [TrialPhase.SUCCEEDED] * 2
    for trial in trials:
        assert trial.objective is not None
        assert 0 < trial.objective < 3
        assert trial.cost == trial.metrics["flops"]
