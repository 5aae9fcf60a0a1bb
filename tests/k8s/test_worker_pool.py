"""The worker pool: sized from the pod's CPUs, plain data across it, the same status as
computed in-process, a cached view when nothing changed, and a worker that dies is
replaced with its call run again."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.k8s import worker_tasks
from carbs_operator.k8s.cpus import usable_cpus
from carbs_operator.k8s.records import record_from_dict, record_to_dict
from carbs_operator.k8s.trials import usable_record
from carbs_operator.k8s.views import StudyViews, spec_body
from carbs_operator.k8s.workers import WorkerPool
from carbs_operator.models import SuggestionKind, TrialPhase
from carbs_operator.replay import scaling_laws
from carbs_operator.status import study_status
from carbs_operator.study import TrialRecord
from carbs_operator.validation import parse_study
from tests.k8s.conftest import study
from tests.support.bulk import finished_trials


def dies_once(payload: dict[str, Any]) -> dict[str, Any]:
    """A task whose worker is killed the first time (a marker file says it happened)."""
    marker = Path(payload["marker"])
    if not marker.exists():
        marker.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
    return {"pid": os.getpid(), "echo": payload["echo"]}


async def test_a_dead_worker_is_replaced_and_the_call_run_again(tmp_path: Path) -> None:
    pool = WorkerPool(1)
    try:
        answer = await pool.call(dies_once, {"marker": str(tmp_path / "m"), "echo": [1, "a"]})
    finally:
        pool.shutdown()
    assert answer["echo"] == [1, "a"]
    assert pool.restarts == 1


def _cgroup(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cpus_come_from_the_cgroup_quota_not_the_node(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert usable_cpus(_cgroup(tmp_path / "v2", {"cpu.max": "50000 100000\n"})) == 1
    assert usable_cpus(_cgroup(tmp_path / "none", {"cpu.max": "max 100000\n"})) == affinity
    v1 = _cgroup(tmp_path / "v1", {"cpu/cpu.cfs_quota_us": "100000\n",
                                    "cpu/cpu.cfs_period_us": "100000\n"})
    assert usable_cpus(v1) == 1
    unlimited = _cgroup(tmp_path / "v1-", {"cpu/cpu.cfs_quota_us": "-1\n",
                                            "cpu/cpu.cfs_period_us": "100000\n"})
    assert usable_cpus(unlimited) == affinity
    assert usable_cpus(tmp_path / "missing") == affinity


def test_records_cross_as_plain_data_and_come_back_equal() -> None:
    record = TrialRecord(
        index=3, params={"lr": 0.01, "opt": "adam"}, phase=TrialPhase.EARLY_STOPPED,
        suggestion_id="u", suggestion_kind=SuggestionKind.BAYESIAN, objective=0.5, cost=2.0,
        metrics={"loss": 0.5}, failure_reason=None, created_at=1.0, started_at=2.0,
        finished_at=3.0, predicted_cost=4.0,
        curve=(CurvePoint(1, 0.9, 1.0), CurvePoint(2, 0.5, None)),
        early_stop=StopDecision("behind the frontier", 2, 0.5, 2.0), progress_warning="late")
    plain = record_to_dict(record)
    import json

    assert record_from_dict(json.loads(json.dumps(plain))) == record


@pytest.fixture
def small() -> tuple[dict[str, Any], list[TrialRecord]]:
    body = study("view", budget={"maxTrials": 40, "maxFailedTrials": 3})
    body["metadata"]["uid"] = "uid-1"
    spec = parse_study(body).spec
    records = [r for r in map(usable_record, finished_trials(body, spec, 12)) if r is not None]
    return body, records


def test_the_worker_status_is_the_in_process_status(
    small: tuple[dict[str, Any], list[TrialRecord]],
) -> None:
    body, records = small
    spec = parse_study(body).spec
    now = datetime(2026, 1, 1, tzinfo=UTC)
    answer = worker_tasks.derived_view({
        "body": spec_body(body), "trials": [record_to_dict(r) for r in records],
        "generation": 1, "study": "view", "namespace": "default", "previous": None,
        "now": now.isoformat(), "metrics": True})
    direct = study_status(spec, records, scaling_laws(spec, records), 1, None, now,
                          study="view")
    assert answer["status"] == direct.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert answer["metrics"]["frontier_points"]


async def test_an_unchanged_study_costs_nothing(
    small: tuple[dict[str, Any], list[TrialRecord]],
) -> None:
    from prometheus_client import CollectorRegistry

    from carbs_operator.metrics import StudyMetrics

    body, records = small
    metrics = StudyMetrics(CollectorRegistry())
    pool = WorkerPool(1)
    views = StudyViews(pool, "default", "view", metrics)
    try:
        view = await views.derive(body, records, 1, None)
        assert view is not None
        views.commit(view)
        assert await views.derive(body, records, 1, None) is None
        assert await views.derive(body, records[:-1], 1, None) is not None
    finally:
        pool.shutdown()
    assert metrics.frontier_points.labels("default", "view")._value.get() > 0
    await asyncio.sleep(0)


ORPHAN_SCRIPT = """
import asyncio, os, signal
from carbs_operator.k8s import worker_tasks
from carbs_operator.k8s.workers import WorkerPool

async def main():
    pool = WorkerPool(1)
    answer = await pool.call(worker_tasks.ping, {})
    print(answer["pid"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    asyncio.run(main())
"""


async def test_workers_end_with_an_operator_killed_by_sigkill(tmp_path: Path) -> None:
    """No worker (nor the fork server waiting for it) outlives a SIGKILLed operator."""
    import subprocess
    import sys

    script = tmp_path / "operator_like.py"
    script.write_text(ORPHAN_SCRIPT)
    output = tmp_path / "out"
    with open(output, "wb") as out:
        process = subprocess.Popen([sys.executable, str(script)], stdout=out)
        await asyncio.to_thread(process.wait, 120)
    worker = int(output.read_text().split()[0])
    for _ in range(100):
        if not Path(f"/proc/{worker}").exists():
            return
        await asyncio.sleep(0.1)
    os.kill(worker, signal.SIGKILL)
    raise AssertionError(f"worker {worker} outlived its operator")
