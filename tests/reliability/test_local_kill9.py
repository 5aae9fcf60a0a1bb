"""Kill -9 a real `carbs run` process at random moments, many times, and run it again.

Real runner processes, real launcher and trial processes (tests/local/quadratic_trial.py,
which appends its trial name to $TRIAL_LOG when it starts), real SQLite. The test SIGKILLs
the runner at a random time after its start, or right after the n-th trial start or the
n-th trial end it caused (n random). Studies come one after another: when one completes
while kills remain, the next begins. Afterwards, for every study: exactly maxTrials counted
trials (a Lost one is replaced and does not count), indices 0..n-1, every trial process
started once, and the engine rebuilt by replay holds one observation per finished trial.

Default suite: 3 kills. CARBS_LONG_TESTS=1: 50 kills.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from carbs_operator.local.store import TrialStore
from carbs_operator.models import TrialPhase
from carbs_operator.validation import load_study
from tests.local.conftest import finished_trials
from tests.reliability.support import (
    LONG,
    Seeded,
    StudyFigures,
    check_records,
    figures_of,
    print_figures,
)
from tests.support.builders import quad_manifest

TRIAL_SCRIPT = Path(__file__).resolve().parents[1] / "local" / "quadratic_trial.py"


@dataclass
class LocalStudy:
    name: str
    manifest: Path
    state: Path
    log: Path
    max_trials: int

    @property
    def db(self) -> Path:
        return self.state / f"{self.name}.db"


def started(study: LocalStudy) -> int:
    return len(study.log.read_text().splitlines()) if study.log.exists() else 0


def carbs_run(study: LocalStudy, stderr: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRIAL_LOG": str(study.log)}
    with open(stderr, "ab") as errors:
        return subprocess.Popen(
            [sys.executable, "-m", "carbs_operator.cli", "run", str(study.manifest),
             "--state-dir", str(study.state), "--device", "cpu"],
            env=env, stdout=subprocess.DEVNULL, stderr=errors,
        )


def wait_until(condition: Callable[[], bool], runner: subprocess.Popen[bytes],
               timeout: float, what: str) -> bool:
    """True once `condition` holds; False if the runner ended first (its study is done)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if runner.poll() is not None:
            return False
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
    return True


def new_study(directory: Path, number: int, seeded: Seeded, max_trials: int) -> LocalStudy:
    rng = seeded.rng
    name = f"q{number}"
    manifest = directory / f"{name}.yaml"
    sleep = round(rng.uniform(0.1, 0.8), 2)
    body = quad_manifest(name=name, extra_args=[f"--sleep={sleep}", "--fail-above=0.25"],
                          budget={"maxTrials": max_trials, "maxFailedTrials": max_trials},
                          parallelism=rng.choice([1, 2, 3]), carbs={"seed": rng.randrange(10_000)})
    manifest.write_text(yaml.safe_dump(body), encoding="utf-8")
    return LocalStudy(name, manifest, directory / "state", directory / f"{name}.trials.log",
                      max_trials)


def check_local_study(study: LocalStudy, context: str) -> StudyFigures:
    where = f"local study {study.name} ({context})"
    spec = load_study(study.manifest).spec
    with TrialStore(study.db) as store:
        records = store.trials()
    counted = [r for r in records if r.phase != TrialPhase.LOST]
    assert len(counted) == study.max_trials, f"{where}: {[(r.index, r.phase) for r in records]}"
    assert [r.index for r in records] == list(range(len(records))), where
    runs = Counter(study.log.read_text().split())
    assert all(count == 1 for count in runs.values()), f"{where}: a trial ran twice: {runs}"
    names = {f"{study.name}-{r.index}" for r in records}
    assert set(runs) <= names, f"{where}: unrecorded trial processes {set(runs) - names}"
    assert {f"{study.name}-{r.index}" for r in counted} <= set(runs), \
        f"{where}: a counted trial never started"
    check_records(spec, records, None, where)
    return figures_of(records)


def pick_moment(study: LocalStudy, seeded: Seeded) -> tuple[str, Callable[[], bool]]:
    """When to kill the runner just started: a name for the figures and a condition."""
    rng = seeded.rng
    choice = rng.random()
    if choice < 0.3:
        deadline = time.monotonic() + rng.uniform(0.0, 6.0)
        return "at a random time", lambda: time.monotonic() > deadline
    if choice < 0.65:
        starts = started(study) + rng.randint(1, 3)
        return "after a trial start", lambda: started(study) >= starts
    ends = finished_trials(study.db) + rng.randint(1, 3)
    return "after a trial end", lambda: finished_trials(study.db) >= ends


def local_campaign(directory: Path, seeded: Seeded, *, kills: int,
                   max_trials: int) -> dict[str, Any]:
    rng = seeded.rng
    shutil.copy(TRIAL_SCRIPT, directory / TRIAL_SCRIPT.name)
    stderr = directory / "runner.stderr"
    studies = [new_study(directory, 0, seeded, max_trials)]
    moments: Counter[str] = Counter()
    runs = done_by_itself = 0
    began = time.monotonic()
    while sum(moments.values()) < kills:
        study = studies[-1]
        runner = carbs_run(study, stderr)
        runs += 1
        moment, condition = pick_moment(study, seeded)
        try:
            alive = wait_until(condition, runner, 120, moment)
        except AssertionError:
            runner.kill()  # a failure must not leave the runner running
            raise
        if alive:
            time.sleep(rng.uniform(0.0, 0.3))
        if runner.poll() is None:
            runner.send_signal(signal.SIGKILL)
            runner.wait()
            moments[moment] += 1
        else:
            assert runner.returncode == 0, f"{seeded}: {stderr.read_text()[-3000:]}"
            done_by_itself += 1
            studies.append(new_study(directory, len(studies), seeded, max_trials))
    # The last study was killed mid-run (the others completed): resume it to the end.
    final = carbs_run(studies[-1], stderr)
    runs += 1
    try:
        code = final.wait(timeout=240)
    except subprocess.TimeoutExpired:
        final.kill()
        raise
    assert code == 0, f"{seeded}: {stderr.read_text()[-3000:]}"
    totals = [check_local_study(study, str(seeded)) for study in studies]
    return {
        "seed": seeded.seed, "kills": kills, "kill_moments": dict(moments),
        "runner_starts": runs, "studies": len(studies), "trials": sum(t.trials for t in totals),
        "succeeded": sum(t.succeeded for t in totals), "failed": sum(t.failed for t in totals),
        "lost": sum(t.trials - t.succeeded - t.failed for t in totals),
        "duplicates_found": 0, "seconds": round(time.monotonic() - began, 1),
    }


def test_carbs_run_killed_at_random_moments(tmp_path: Path, seeded: Seeded) -> None:
    if LONG:
        figures = local_campaign(tmp_path, seeded, kills=50, max_trials=8)
    else:
        figures = local_campaign(tmp_path, seeded, kills=3, max_trials=6)
    print_figures("carbs run kill -9" + (" (long)" if LONG else ""), figures)
