"""`carbs run` with spec.earlyStopping: real runner, real trial processes, real SQLite.

The trials (progress_trial.py) report a learning curve per step; configurations far from
q = 0.3 are plainly bad from their first steps. A trial notes each start and each SIGTERM
in $TRIAL_LOG, so a trial run twice, or signalled twice, shows up.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbs_operator import cli
from carbs_operator.learning_curves import MAX_CURVE_POINTS
from carbs_operator.local.runner import LocalRunner
from carbs_operator.local.store import StoreError, TrialStore, search_signature
from carbs_operator.local.trial_files import lock_is_held
from carbs_operator.models import TrialPhase
from carbs_operator.study import StopReason, TrialRecord, study_decision
from carbs_operator.validation import load_study
from tests.local.conftest import carbs_run

HERE = Path(__file__).parent
P = TrialPhase


def manifest(name: str, *, args: list[str] | None = None, grace: int | None = None,
             **spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{
        "name": "train", "image": "example/progress:1",
        "command": ["python", "progress_trial.py"],
        "args": ["--q=${params.q}", "--steps=${params.steps}", *(args or [])],
    }]}
    if grace is not None:
        pod["terminationGracePeriodSeconds"] = grace
    body: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "cost": {"metric": "flops"},
        "parameters": [
            {"name": "q", "space": "linear", "min": 0.0, "max": 1.0, "searchCenter": 0.5},
            {"name": "steps", "space": "linear", "min": 6, "max": 12, "integer": True,
             "searchCenter": 10},
        ],
        "budget": {"maxTrials": 10, "maxFailedTrials": 0},
        "parallelism": 2,
        "carbs": {"seed": 3, "numRandomSamples": 10, "initialSearchRadius": 1.0},
        "earlyStopping": {"rule": "Median", "minTrials": 3, "graceFraction": 0.2,
                          "margin": 0.0},
        "trialTemplate": {"spec": {"template": {"spec": pod}}},
    }
    body.update(spec)
    return {"apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy",
            "metadata": {"name": name}, "spec": body}


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    shutil.copy(HERE / "progress_trial.py", tmp_path / "progress_trial.py")

    def write(name: str = "curves", **kwargs: Any) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(manifest(name, **kwargs)), encoding="utf-8")
        return path

    return write


def run_study(path: Path, state: Path, **kwargs: Any) -> list[TrialRecord]:
    study = load_study(path)
    return LocalRunner(study, path.parent, state, device="cpu", poll_seconds=0.05,
                       **kwargs).run()


def events(log: Path) -> Counter[tuple[str, str]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter(tuple(line.split()) for line in lines)  # type: ignore[misc]


@pytest.fixture
def trial_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "trials.log"
    monkeypatch.setenv("TRIAL_LOG", str(log))
    return log


def test_a_study_runs_to_its_budget_with_bad_trials_stopped(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_study(args=["--on-term=0.2"], grace=5,
                       budget={"maxTrials": 10, "maxFailedTrials": 1})
    trials = run_study(path, tmp_path / "state")
    spec = load_study(path).spec
    decision = study_decision(spec, trials)
    assert decision.complete
    assert decision.counts.finished == 10
    stopped = [t for t in trials if t.phase == P.EARLY_STOPPED]
    assert stopped, [(t.phase, t.params, t.objective) for t in trials]
    # maxFailedTrials 1 and several stopped trials: stopping is never a failure.
    assert decision.counts.failed == 0
    assert decision.stop_reason == StopReason.MAX_TRIALS_REACHED
    seen = events(trial_log)
    for trial in trials:
        name = f"curves-{trial.index}"
        assert seen[("start", name)] == 1, f"{name} started {seen[('start', name)]} times"
        assert 0 < len(trial.curve) <= MAX_CURVE_POINTS
        if trial.phase == P.EARLY_STOPPED:
            stop = trial.early_stop
            assert stop is not None
            assert "loss" in stop.reason
            # Its point, its objective and its cost so far are the curve's last point.
            assert (stop.step, stop.objective, stop.cost) == (
                trial.curve[-1].step, trial.curve[-1].objective, trial.curve[-1].cost)
            assert trial.objective == stop.objective
            assert trial.cost == stop.cost == stop.step + 1
            assert stop.step + 1 < int(trial.params["steps"])  # it did not run to its end
            assert seen[("term", name)] == 1  # one SIGTERM, let it save and exit
        else:
            assert trial.phase == P.SUCCEEDED
            assert trial.cost == trial.params["steps"]
            assert seen[("term", name)] == 0
            assert trial.curve[-1].step == int(trial.params["steps"]) - 1
    assert decision.total_cost == sum(t.cost or 0.0 for t in trials)
    with sqlite3.connect(tmp_path / "state" / "curves.db") as db:
        assert db.execute("SELECT COUNT(*) FROM trials WHERE stop_pending = 1").fetchone() == (0,)
    # The reports read the same state: the curves plot and the stopped trials' table.
    png = tmp_path / "curves.png"
    assert cli.main(["plot", str(path), "--state-dir", str(tmp_path / "state"), "-o",
                     str(png), "--curves"]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert cli.main(["frontier", str(path), "--state-dir", str(tmp_path / "state")]) == 0
    assert f"Stopped early ({len(stopped)})" in capsys.readouterr().out


def test_stopped_cost_counts_toward_max_total_cost_and_failures_count_apart(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
) -> None:
    path = write_study(args=["--fail-above=0.85"], grace=1,
                       budget={"maxTrials": 30, "maxTotalCost": 60.0})
    trials = run_study(path, tmp_path / "state")
    decision = study_decision(load_study(path).spec, trials)
    assert decision.complete
    assert decision.stop_reason == StopReason.COST_BUDGET_SPENT
    counts = Counter(t.phase for t in trials)
    assert counts[P.EARLY_STOPPED] == decision.counts.early_stopped
    assert counts[P.FAILED] == decision.counts.failed
    assert all(t.failure_reason and "exited with code 1" in t.failure_reason
               for t in trials if t.phase == P.FAILED)
    spent = sum(t.cost for t in trials if t.cost is not None)
    assert decision.total_cost == spent >= 60.0
    assert sum(t.cost or 0.0 for t in trials if t.phase == P.EARLY_STOPPED) > 0


def test_a_trial_ignoring_sigterm_is_killed_after_the_grace_period(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
) -> None:
    path = write_study(args=["--ignore-term", "--step-seconds=0.3"], grace=1,
                       budget={"maxTrials": 6}, parallelism=3,
                       earlyStopping={"rule": "Median", "minTrials": 1, "margin": 0.0,
                                      "graceFraction": 0.0})
    trials = run_study(path, tmp_path / "state")
    stopped = [t for t in trials if t.phase == P.EARLY_STOPPED]
    assert stopped
    seen = events(trial_log)
    for trial in stopped:
        assert seen[("term", f"curves-{trial.index}")] == 1
        folder = tmp_path / "state" / "curves" / f"trial-{trial.index}"
        ended = json.loads((folder / "exit.json").read_text())
        # SIGKILL once the 1 s grace period was over, long before its own end (it would
        # have run up to 12 x 0.3 s and written its result).
        assert ended["returncode"] == -signal.SIGKILL
        assert trial.finished_at is not None
        assert 0.9 <= ended["finished_at"] - trial.finished_at < 3.0
        assert not (folder / "result.json").exists()


def pending_stops(db: Path) -> list[tuple[int, float]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            rows = connection.execute(
                "SELECT idx, finished_at FROM trials WHERE stop_pending = 1").fetchall()
    except sqlite3.OperationalError:
        return []
    return [(int(i), float(f)) for i, f in rows]


def test_kill_9_while_a_trial_is_being_stopped_then_resume(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
) -> None:
    """The runner dies after recording a stop, while the trial takes its grace period to
    save: the next runner finishes that stop (the trial is neither judged again nor run
    again, and gets no second SIGTERM) and the study completes."""
    path = write_study(args=["--on-term=6"], grace=10, budget={"maxTrials": 8})
    state = tmp_path / "state"
    db = state / "curves.db"
    runner = carbs_run(path, state, trial_log)
    deadline = time.monotonic() + 120

    def signalled() -> bool:
        seen = events(trial_log)
        return any(seen[("term", f"curves-{index}")] for index, _ in pending_stops(db))

    while not signalled():
        assert runner.poll() is None, runner.stderr.read() if runner.stderr else ""
        assert time.monotonic() < deadline, "no trial was stopped"
        time.sleep(0.02)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    before = pending_stops(db)
    # The stopped trial is still saving (6 s) when its runner dies: the next one must
    # finish the stop, without a second SIGTERM.
    assert any(lock_is_held(state / "curves" / f"trial-{index}") for index, _ in before)
    with TrialStore(db) as store:
        decided = {t.index: t for t in store.trials() if t.phase == P.EARLY_STOPPED}
    resumed = carbs_run(path, state, trial_log)
    _, stderr = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, stderr.decode()
    with TrialStore(db) as store:
        trials = store.trials()
        assert store.pending_stops() == []
    by_index = {t.index: t for t in trials}
    for index, _ in before:
        # The decision stands as it was recorded: same point, same time.
        assert by_index[index].early_stop == decided[index].early_stop
        assert by_index[index].finished_at == decided[index].finished_at
    seen = events(trial_log)
    assert all(count == 1 for count in seen.values()), seen
    # A trial the dead runner had not yet signalled may have ended on its own before the
    # next runner came up; none that was not stopped was ever signalled.
    assert {name for kind, name in seen if kind == "term"} <= {
        f"curves-{t.index}" for t in trials if t.phase == P.EARLY_STOPPED}
    decision = study_decision(load_study(path).spec, trials)
    assert decision.complete
    assert decision.counts.finished == 8


def one_trial(write_study: Callable[..., Path], tmp_path: Path, name: str,
              args: list[str], **kwargs: Any) -> TrialRecord:
    path = write_study(name, args=args, budget={"maxTrials": 1}, parallelism=1,
                       parameters=[
                           {"name": "q", "space": "linear", "min": 0.0, "max": 1.0,
                            "searchCenter": 0.3},
                           {"name": "steps", "space": "linear", "min": 6, "max": 12,
                            "integer": True, "searchCenter": 8}])
    (trial,) = run_study(path, tmp_path / "state", **kwargs)
    return trial


def test_malformed_progress_lines_are_skipped_with_a_reason(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
) -> None:
    trial = one_trial(write_study, tmp_path, "malformed", ["--malformed", "--step-seconds=0.02"])
    steps = int(trial.params["steps"])
    assert trial.phase == P.SUCCEEDED
    assert len(trial.curve) == steps
    assert trial.progress_warning is not None
    assert (f"{2 * steps} malformed progress lines skipped (first: malformed progress line "
            "(not JSON") in trial.progress_warning


def test_a_flood_of_progress_is_read_bounded_and_said(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
) -> None:
    trial = one_trial(write_study, tmp_path, "flood", ["--flood=12", "--step-seconds=0.05"])
    assert trial.phase == P.SUCCEEDED
    assert len(trial.curve) <= MAX_CURVE_POINTS
    assert trial.curve[-1].step == int(trial.params["steps"]) - 1
    assert trial.progress_warning is not None
    assert "bytes of output skipped unread" in trial.progress_warning


def test_progress_that_stops_arriving_is_said(
    write_study: Callable[..., Path], tmp_path: Path, trial_log: Path,
) -> None:
    trial = one_trial(write_study, tmp_path, "silent",
                      ["--silent-after=1", "--step-seconds=0.15"], silent_after=0.4)
    assert trial.phase == P.SUCCEEDED
    assert [p.step for p in trial.curve] == [0, 1]
    assert trial.progress_warning is not None
    # The rule the operator applies too (trial_progress.late_progress): whole seconds.
    assert "no progress for over 1 s" in trial.progress_warning
    assert "since step 1" in trial.progress_warning


def test_late_progress_is_one_rule_for_both_runtimes() -> None:
    """Late once nothing came for the floor and for 3x the trial's own pace; a trial that
    printed nothing is late only where the study judges progress."""
    from carbs_operator.early_stopping import CurvePoint
    from carbs_operator.trial_progress import late_progress

    curve = [CurvePoint(step, 1.0) for step in range(10)]
    # 10 points in 1000 s: a pace of 100 s, so 300 s of silence is not late at a 60 s floor.
    assert late_progress(0.0, 1000.0, 1299.0, curve, floor=60) is None
    assert "over 300 s" in (late_progress(0.0, 1000.0, 1301.0, curve, floor=60) or "")
    # A fast trial is late at the floor.
    assert "over 600 s" in (late_progress(0.0, 10.0, 611.0, curve) or "")
    assert late_progress(0.0, None, 700.0, [], expects_progress=False) is None
    assert "no progress line in the first 600 s" in (late_progress(0.0, None, 700.0, []) or "")
    assert late_progress(None, None, 700.0, []) is None


SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE trials (
    idx INTEGER PRIMARY KEY, params TEXT NOT NULL, phase TEXT NOT NULL, suggestion_id TEXT,
    suggestion_kind TEXT, objective REAL, cost REAL, metrics TEXT NOT NULL DEFAULT '{}',
    failure_reason TEXT, created_at REAL, started_at REAL, finished_at REAL
);
"""


def test_a_schema_1_state_file_is_migrated_in_place(
    write_study: Callable[..., Path], tmp_path: Path,
) -> None:
    study = load_study(write_study())
    db = tmp_path / "state" / "curves.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as connection:
        connection.executescript(SCHEMA_1)
        connection.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("study", "curves"), ("signature", search_signature(study.spec)),
            ("schema_version", "1")])
        connection.execute(
            "INSERT INTO trials (idx, params, phase, objective, cost, created_at, started_at, "
            "finished_at) VALUES (0, ?, 'Succeeded', 1.2, 6, 1, 2, 3)",
            ('{"q": 0.3, "steps": 6}',))
    with TrialStore(db) as store:
        store.bind_study("curves", study.spec)
        (trial,) = store.trials()
        assert store.pending_stops() == []
        assert store.progress_state(0) == (0, None)
    assert trial.phase == P.SUCCEEDED
    assert trial.curve == ()
    assert trial.early_stop is None
    assert trial.predicted_cost is None
    with sqlite3.connect(db) as connection:
        assert connection.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
        connection.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with TrialStore(db) as store, pytest.raises(StoreError, match="newer than this carbs"):
        store.bind_study("curves", study.spec)
