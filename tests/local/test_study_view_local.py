"""The one study view on a real local study (real subprocess trials, real SQLite): the
table, `carbs frontier --json`, the UI's local source, the status and the metrics all say
the same frontier and laws."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from rich.console import Console

from carbs_operator.local.runner import LocalRunner
from carbs_operator.local.store import StoreError, TrialStore, read_stored_study
from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import TrialPhase
from carbs_operator.reports.tables import render_report
from carbs_operator.study import TrialRecord
from carbs_operator.study_view import build_view
from carbs_operator.ui.local_source import LocalSource
from carbs_operator.ui.source import StudyNotFoundError
from carbs_operator.validation import load_study


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[TrialRecord]]:
    """A 12-trial quadratic study, run once for the module."""
    import shutil

    import yaml

    from tests.local.conftest import HERE
    from tests.support.builders import quad_manifest

    root = tmp_path_factory.mktemp("viewstudy")
    shutil.copy(HERE / "quadratic_trial.py", root / "quadratic_trial.py")
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(quad_manifest(budget={"maxTrials": 12})), encoding="utf-8")
    state = root / "state"
    trials = LocalRunner(load_study(path), root, state, device="cpu", poll_seconds=0.05).run()
    return path, state, trials


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "carbs_operator.cli", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_frontier_json_is_the_view_the_ui_and_the_status_show(
    finished: tuple[Path, Path, list[TrialRecord]],
) -> None:
    path, state, _ = finished
    done = _cli("frontier", str(path), "--state-dir", str(state), "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    frontier = [p["index"] for p in printed["frontier"]]
    assert frontier, "a finished study has a frontier"
    costs = [p["cost"] for p in printed["frontier"]]
    assert costs == sorted(costs)
    source = LocalSource([state])
    [summary] = source.studies()
    assert summary["key"] == "quad"
    assert summary["trials"] == {"finished": 12, "total": 12, "budget": 12}
    view = source.view("quad")
    assert view["frontier"] == frontier
    assert [t["index"] for t in view["trials"] if t["onFrontier"]] == sorted(frontier)
    status_frontier = [p["trial"] for p in view["status"]["paretoFrontier"]]
    assert status_frontier == [f"quad-{i}" for i in frontier]
    assert [law["parameter"] for law in printed["laws"]] == ["lr", "x", "size"]
    for law in printed["laws"]:
        assert law["verdict"] in ("law", "no law", "saturated", "too few trials")
        assert law == next(x for x in view["laws"] if x["parameter"] == law["parameter"])
    status_laws = {law["parameter"]: law for law in view["status"]["scalingLaws"]}
    for law in printed["laws"]:
        if law["parameter"] in status_laws:
            assert status_laws[law["parameter"]]["verdict"] == law["verdict"]
            assert status_laws[law["parameter"]].get("interval") == law["interval"]
    assert "kind: CarbsStudy" in view["manifest"]


def test_the_source_follows_a_study_and_reads_its_parts(
    finished: tuple[Path, Path, list[TrialRecord]], tmp_path: Path,
) -> None:
    path, state, trials = finished
    source = LocalSource([path], state_dir=state)
    revision = source.revision("quad")
    assert source.revision("quad") == revision
    detail = source.trial("quad", trials[0].index)
    assert detail is not None
    assert detail["trial"]["params"] == dict(trials[0].params)
    assert detail["log"] is None
    assert source.trial("quad", 999) is None
    importance = source.importance("quad")
    assert set(importance["overall"]) == {"lr", "x", "size"}
    assert sum(importance["overall"].values()) == pytest.approx(1.0)
    assert "error" in source.predict("quad", -1.0)
    with pytest.raises(StudyNotFoundError):
        source.view("nope")
    # A write moves the revision (on a copy: the module's study stays as it is).
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(state, copy)
    moving = LocalSource([copy])
    before = moving.revision("quad")
    with TrialStore(copy / "quad.db") as store:
        store.insert(TrialRecord(index=store.next_index(), params=dict(trials[0].params),
                                 phase=TrialPhase.PENDING))
    assert moving.revision("quad") != before
    assert moving.view("quad")["summary"]["trials"]["total"] == len(trials) + 1


def test_a_state_file_keeps_its_spec_for_the_ui(
    finished: tuple[Path, Path, list[TrialRecord]],
) -> None:
    path, state, _ = finished
    stored = read_stored_study(state / "quad.db")
    assert stored.name == "quad"
    assert stored.spec is not None
    assert stored.spec["objective"] == {"metric": "loss", "direction": "minimize"}
    with pytest.raises(StoreError):
        read_stored_study(path)  # a manifest is no state file


def test_tables_and_metrics_read_the_same_laws(
    finished: tuple[Path, Path, list[TrialRecord]],
) -> None:
    path, _, trials = finished
    spec = load_study(path).spec
    view = build_view(spec, trials, name="quad")
    out = io.StringIO()
    render_report(view, Console(file=out, width=80))
    text = out.getvalue()
    assert "…" not in text
    for law in view.laws:
        assert law.verdict in text
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    metrics.update_study("local", "quad", spec, trials, laws=view.laws)
    for law in view.laws:
        assert registry.get_sample_value("carbs_scaling_law_verdict", {
            "namespace": "local", "study": "quad", "parameter": law.parameter,
            "verdict": law.verdict}) == 1.0
        if law.exponent is not None:
            assert registry.get_sample_value("carbs_scaling_law_exponent", {
                "namespace": "local", "study": "quad", "parameter": law.parameter,
                "bound": "estimate"}) == pytest.approx(law.exponent)
    metrics.remove_study("local", "quad")
    assert "carbs_scaling_law_verdict{" not in _exposition(registry)


def _exposition(registry: CollectorRegistry) -> str:
    from prometheus_client import generate_latest

    return generate_latest(registry).decode()


def test_carbs_run_prints_the_ui_command(write_study: Callable[..., Path],
                                         tmp_path: Path) -> None:
    path = write_study(budget={"maxTrials": 2})
    done = _cli("run", str(path), "--state-dir", str(tmp_path / "st"), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert f"carbs ui {tmp_path / 'st'}" in done.stdout
    assert "http://127.0.0.1:8080/#/study/quad" in done.stdout


def test_a_changed_study_is_served_stale_while_its_view_is_recomputed(
    finished: tuple[Path, Path, list[TrialRecord]], tmp_path: Path,
) -> None:
    """The page never waits for a big study's recomputation: it gets the last view, named
    by its own revision, until the new one is ready (then the new one)."""
    import shutil
    import time

    _, state, trials = finished
    copy = tmp_path / "swr"
    shutil.copytree(state, copy)
    source = LocalSource([copy])
    first = source.view("quad")
    assert first["revision"] == source.revision("quad")
    with TrialStore(copy / "quad.db") as store:
        store.insert(TrialRecord(index=store.next_index(), params=dict(trials[0].params),
                                 phase=TrialPhase.PENDING))
    current = source.revision("quad")
    assert current != first["revision"]
    served = source.view("quad")
    if served["revision"] != current:  # stale: the old view, under its old revision
        assert served["revision"] == first["revision"]
        assert len(served["trials"]) == len(trials)
    deadline = time.monotonic() + 60
    while served["revision"] != current and time.monotonic() < deadline:
        time.sleep(0.2)
        served = source.view("quad")
    assert served["revision"] == current
    assert len(served["trials"]) == len(trials) + 1
