"""`carbs run`'s runner with real subprocess trials and real SQLite (no mocks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from carbs_operator.local.runner import LocalRunner
from carbs_operator.local.store import StoreError, TrialStore
from carbs_operator.models import TrialPhase
from carbs_operator.study import StopReason, TrialRecord, study_decision
from carbs_operator.validation import load_study


def run_study(path: Path, state: Path) -> list[TrialRecord]:
    study = load_study(path)
    return LocalRunner(study, path.parent, state, device="cpu", poll_seconds=0.05).run()


def test_a_study_runs_to_max_trials_in_parallel(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_study()
    trials = run_study(path, tmp_path / "state")
    assert [t.index for t in trials] == list(range(8))
    assert all(t.phase == TrialPhase.SUCCEEDED for t in trials)
    for trial in trials:
        assert trial.objective is not None
        assert trial.cost == trial.params["size"]
        assert trial.metrics["loss"] == trial.objective
        assert trial.started_at is not None
        assert trial.finished_at is not None
    decision = study_decision(load_study(path).spec, trials)
    assert decision.stop_reason == StopReason.MAX_TRIALS_REACHED
    # Rows survive the runner: a second store sees the same trials.
    with TrialStore(tmp_path / "state" / "quad.db") as store:
        assert store.trials() == trials


def test_failures_and_malformed_results_fail_only_their_trials(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_study(extra_args=["--fail-above=0.05"])
    trials = run_study(path, tmp_path / "state")
    failed = [t for t in trials if t.phase == TrialPhase.FAILED]
    succeeded = [t for t in trials if t.phase == TrialPhase.SUCCEEDED]
    assert failed
    assert succeeded
    for trial in failed:
        assert float(trial.params["x"]) > 0.05
        assert trial.failure_reason is not None
        assert "exited with code 1" in trial.failure_reason
        assert "is above 0.05" in trial.failure_reason  # the last line of its output
    assert all(float(t.params["x"]) <= 0.05 for t in succeeded)


def test_malformed_result_names_the_metric(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_study(extra_args=["--malformed"], budget={"maxTrials": 4, "maxFailedTrials": 2})
    trials = run_study(path, tmp_path / "state")
    failed = [t for t in trials if t.phase == TrialPhase.FAILED]
    # One more than maxFailedTrials stops the study; with two in parallel, the other one
    # may have failed in the same moment.
    assert 3 <= len(failed) <= 4
    # A trial still running when the study stopped is stopped too (completion policy delete).
    assert all(t.phase == TrialPhase.LOST for t in trials if t not in failed)
    reason = failed[0].failure_reason or ""
    assert "malformed result" in reason
    assert "loss" in reason
    assert study_decision(load_study(path).spec, trials).stop_reason == StopReason.TOO_MANY_FAILURES


def test_a_trial_past_its_deadline_fails_with_the_reason(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_study(
        extra_args=["--sleep=30"], deadline=1, budget={"maxTrials": 1, "maxFailedTrials": 1}
    )
    (trial,) = run_study(path, tmp_path / "state")
    assert trial.phase == TrialPhase.FAILED
    assert "timed out after 1 s" in (trial.failure_reason or "")


def test_state_of_another_search_space_is_refused(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_study(budget={"maxTrials": 2, "maxFailedTrials": 2})
    run_study(path, tmp_path / "state")
    manifest = path.read_text(encoding="utf-8").replace("max: 1000", "max: 2000")
    path.write_text(manifest, encoding="utf-8")
    with pytest.raises(StoreError, match=r"spec\.parameters changed after 2 trial"):
        run_study(path, tmp_path / "state")


def test_an_edit_of_the_engine_seed_is_refused_as_on_a_cluster(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    """carbs.seed fixes how the finished trials replay: the operator refuses its edit
    (SearchChanged), and so does `carbs run` on resume, with the same words."""
    path = write_study(budget={"maxTrials": 2, "maxFailedTrials": 2})
    run_study(path, tmp_path / "state")
    path.write_text(path.read_text(encoding="utf-8").replace("seed: 0", "seed: 1"),
                    encoding="utf-8")
    with pytest.raises(StoreError, match=r"spec\.carbs changed"):
        run_study(path, tmp_path / "state")
    path.write_text(path.read_text(encoding="utf-8").replace("seed: 1", "seed: 0")
                    .replace("maxTrials: 2", "maxTrials: 3"), encoding="utf-8")
    assert len(run_study(path, tmp_path / "state")) == 3  # budgets may change


def test_a_state_file_from_before_the_shared_signature_still_opens(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    """Files written with the old local signature (objective, cost, parameters as JSON
    under meta key "signature") resume, and are stamped with today's signature."""
    import json
    import sqlite3

    path = write_study(budget={"maxTrials": 2, "maxFailedTrials": 2})
    run_study(path, tmp_path / "state")
    spec = load_study(path).spec
    legacy = json.dumps({
        "objective": spec.objective.model_dump(mode="json"),
        "cost": spec.cost.model_dump(mode="json"),
        "parameters": [p.model_dump(mode="json") for p in spec.parameters],
    }, sort_keys=True)
    db = tmp_path / "state" / "quad.db"
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM meta WHERE key IN ('search', 'spec')")
        connection.execute("INSERT INTO meta (key, value) VALUES ('signature', ?)", (legacy,))
    path.write_text(path.read_text(encoding="utf-8").replace("maxTrials: 2", "maxTrials: 3"),
                    encoding="utf-8")
    assert len(run_study(path, tmp_path / "state")) == 3
    with sqlite3.connect(db) as connection:
        stamp = connection.execute("SELECT value FROM meta WHERE key = 'search'").fetchone()
    assert stamp is not None
    assert stamp[0].startswith("objective=")
    # ...and an old file whose parameters changed is still refused, naming them.
    path.write_text(path.read_text(encoding="utf-8").replace("max: 1000", "max: 2000"),
                    encoding="utf-8")
    with sqlite3.connect(db) as connection:
        connection.execute("DELETE FROM meta WHERE key = 'search'")
    with pytest.raises(StoreError, match=r"spec\.parameters changed"):
        run_study(path, tmp_path / "state")


def test_raising_max_trials_resumes_where_it_stopped(
    write_study: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_study(budget={"maxTrials": 3, "maxFailedTrials": 2})
    assert len(run_study(path, tmp_path / "state")) == 3
    path = write_study(budget={"maxTrials": 5, "maxFailedTrials": 2})
    trials = run_study(path, tmp_path / "state")
    assert [t.index for t in trials] == [0, 1, 2, 3, 4]
