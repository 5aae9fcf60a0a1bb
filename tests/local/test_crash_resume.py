"""Kill `carbs run` (a real process) at any moment, run it again: no trial lost, none twice.

Trials append their name to $TRIAL_LOG when they start, so a trial that ran twice shows up
twice. Nothing is mocked: real runner processes, real trial processes, real SQLite.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase
from tests.local.conftest import carbs_run, finished_trials

MAX_TRIALS = 6


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def started(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def check_complete(state: Path, log: Path) -> None:
    with TrialStore(state / "quad.db") as store:
        trials = store.trials()
    counted = [t for t in trials if t.phase != TrialPhase.LOST]
    assert len(counted) == MAX_TRIALS
    assert all(t.phase == TrialPhase.SUCCEEDED for t in counted)
    assert [t.index for t in trials] == list(range(len(trials)))
    runs = Counter(log.read_text().split())
    assert all(count == 1 for count in runs.values()), f"a trial ran twice: {runs}"
    # Every trial that ran is recorded, and every recorded trial ran (except lost ones that
    # were stopped before their process started, which never appear in the log).
    assert set(runs) <= {f"quad-{t.index}" for t in trials}
    assert {f"quad-{t.index}" for t in counted} <= set(runs)


@pytest.mark.parametrize("moment", ["first-trial-started", "one-finished", "three-finished"])
def test_kill_9_then_resume(
    write_study: Callable[..., Path], tmp_path: Path, moment: str
) -> None:
    study = write_study(extra_args=["--sleep=0.4"], budget={"maxTrials": MAX_TRIALS,
                                                          "maxFailedTrials": 0})
    state, log = tmp_path / "state", tmp_path / "trials.log"
    db = state / "quad.db"
    runner = carbs_run(study, state, log)
    if moment == "first-trial-started":
        wait_for(lambda: started(log) >= 1)
    elif moment == "one-finished":
        wait_for(lambda: finished_trials(db) >= 1)
    else:
        wait_for(lambda: finished_trials(db) >= 3)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    resumed = carbs_run(study, state, log)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr.decode()
    check_complete(state, log)


def test_ctrl_c_stops_trials_and_resume_replaces_them(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    study = write_study(extra_args=["--sleep=2"], budget={"maxTrials": 4, "maxFailedTrials": 0})
    state, log = tmp_path / "state", tmp_path / "trials.log"
    runner = carbs_run(study, state, log)
    wait_for(lambda: started(log) >= 2)
    runner.send_signal(signal.SIGINT)
    _, stderr = runner.communicate(timeout=60)
    assert runner.returncode == 130, stderr.decode()
    with TrialStore(state / "quad.db") as store:
        interrupted = store.trials()
    lost = [t for t in interrupted if t.phase == TrialPhase.LOST]
    assert lost
    assert all("interrupted" in (t.failure_reason or "") for t in lost)
    resumed = carbs_run(study, state, log)
    _, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr.decode()
    with TrialStore(state / "quad.db") as store:
        trials = store.trials()
    assert sum(t.phase == TrialPhase.SUCCEEDED for t in trials) == 4
    assert Counter(log.read_text().split()).most_common(1)[0][1] == 1


def test_metrics_are_served_during_a_run(write_study: Callable[..., Path], tmp_path: Path) -> None:
    """`carbs run --metrics-port` serves Prometheus text on 127.0.0.1 while trials run."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    study = write_study(extra_args=["--sleep=0.5"], budget={"maxTrials": 4, "maxFailedTrials": 0})
    log = tmp_path / "trials.log"
    env = {**os.environ, "TRIAL_LOG": str(log)}
    runner = subprocess.Popen(
        [sys.executable, "-m", "carbs_operator.cli", "run", str(study), "--state-dir",
         str(tmp_path / "state"), "--device", "cpu", "--metrics-port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        def scraped() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                return False
            return 'carbs_trials_total{namespace="local",outcome="succeeded",study="quad"}' in text

        wait_for(scraped)
    finally:
        _, stderr = runner.communicate(timeout=120)
    assert runner.returncode == 0, stderr.decode()
