"""spec.tracking.mlflow against a real MLflow server (conftest.py): tune() runs, the
operator's hook, and a tracker that is down.

Real: the MLflow server and client, the local runner and its trial subprocesses.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from carbs_operator import tune
from carbs_operator.models import TrialPhase
from carbs_operator.study import Outcome, TrialRecord
from carbs_operator.tracking import tracker as tracker_module
from tests.k8s.conftest import carbs_operator
from tests.k8s.test_operator_flow import wait_phase
from tests.support.emulator import Cluster
from tests.support.fixtures import cluster, kubelet  # noqa: F401 - fixtures, by name
from tests.support.kubelet import SimulatedKubelet
from tests.tracking.trial_functions import quick, train_mlflow
from tests.tuning.patience import patient_operator_stop  # noqa: F401 - a fixture

mlflow = pytest.importorskip("mlflow")

PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "space": "log", "min": 1e-4, "max": 1.0, "searchCenter": 1e-3},
    {"name": "width", "space": "log", "min": 4, "max": 256, "integer": True, "searchCenter": 16},
]


def run(tmp_path: Path, uri: str, name: str, **extra: Any) -> Any:
    return tune(train_mlflow, parameters=PARAMETERS,
                objective={"metric": "loss", "direction": "minimize"},
                cost={"metric": "flops"}, budget={"maxTrials": 3}, parallelism=2,
                progress=False, name=name, state_dir=tmp_path / "state",
                tracking={"mlflow": {"trackingUri": uri, "experiment": name}}, **extra)


def logged_runs(client: Any, experiment: str, timeout: float = 120.0) -> list[Any]:
    """The experiment's runs once 3 trials and the study's last refresh are logged. tune()
    gives trackers 10 s at the end and leaves the rest to their thread, which goes on in
    this process; on a loaded machine it may need longer."""
    deadline = time.monotonic() + timeout
    while True:
        runs: list[Any] = client.search_runs([experiment])
        children = [r for r in runs if "carbs.phase" in r.data.tags]
        parents = [r for r in runs if r.data.tags.get("carbs.role") == "study"]
        if len(children) >= 3 and parents \
                and parents[0].data.metrics.get("trials_finished") == 3 \
                and client.list_artifacts(parents[0].info.run_id, "carbs"):
            return runs
        if time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


def test_a_study_logs_a_parent_run_and_one_child_per_trial(
    mlflow_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(tmp_path, mlflow_server, "tracked")
    client = mlflow.tracking.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("tracked")
    runs = logged_runs(client, experiment.experiment_id)
    parents = [r for r in runs if r.data.tags.get("carbs.role") == "study"]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.data.tags["carbs.study"] == "local/tracked"
    children = {r.data.tags["carbs.trial"]: r for r in runs if "carbs.trial" in r.data.tags}
    assert sorted(children) == ["tracked-0", "tracked-1", "tracked-2"]
    frontier = {t.index for t in result.frontier_trials}
    for record in result.records:
        child = children[f"tracked-{record.index}"]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.tags["carbs.phase"] == "Succeeded"
        assert child.data.tags["carbs.frontier"] == str(record.index in frontier).lower()
        assert float(child.data.params["lr"]) == pytest.approx(record.params["lr"])
        assert child.data.metrics["loss"] == pytest.approx(record.objective)
        assert child.data.metrics["cost"] == pytest.approx(record.cost)
        history = client.get_metric_history(child.info.run_id, "loss")
        assert sorted({m.step for m in history}) == [0, 1, 2]  # the progress curve
    # The run the training function started is the trial's run: nested, and adopted.
    assert children["tracked-0"].data.metrics["user_metric"] == 1.5
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "carbs")}
    assert artifacts == {"carbs/frontier.png", "carbs/frontier.json", "carbs/laws.json"}
    laws = json.loads(Path(client.download_artifacts(
        parent.info.run_id, "carbs/laws.json", str(tmp_path))).read_text())
    assert [law["parameter"] for law in laws] == ["lr", "width"]
    assert parent.data.metrics["best_objective"] == pytest.approx(result.best.objective)


def study_body(name: str, namespace: str, uri: str) -> dict[str, Any]:
    return {"apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"objective": {"metric": "loss", "direction": "minimize"},
                     "cost": {"metric": "flops"}, "parameters": PARAMETERS,
                     "budget": {"maxTrials": 3}, "parallelism": 2,
                     "tracking": {"mlflow": {"trackingUri": uri}},
                     "trialTemplate": {"spec": {"template": {"spec": {"containers": [
                         {"name": "t", "image": "x", "command": ["python"]}]}}}}}}


def test_the_operator_hook_logs_a_finished_trial_without_waiting(mlflow_server: str) -> None:
    body = study_body("hooked", "ml", mlflow_server)
    # tune(cluster=True) finds or creates the parent first, for the trial container's env.
    from carbs_operator.validation import parse_study

    env = tracker_module.parent_env(parse_study(body), "ml", wait_seconds=60.0)
    record = TrialRecord(index=0, params={"lr": 0.01, "width": 8}, phase=TrialPhase.RUNNING)
    outcome = Outcome(TrialPhase.SUCCEEDED, {"loss": 0.5, "flops": 8.0}, 0.5, 8.0, None)
    began = time.monotonic()
    tracker_module.trial_finished_hook(body, record, outcome)
    assert time.monotonic() - began < 0.5  # the operator's loop never waits on a tracker
    tracker = tracker_module._TRACKERS[("ml", "hooked")][1]
    tracker.close(60.0)
    client = mlflow.tracking.MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name("hooked")
    runs = client.search_runs([experiment.experiment_id],
                              filter_string="tags.`carbs.trial` = 'hooked-0'")
    assert len(runs) == 1
    assert runs[0].data.tags["carbs.study"] == "ml/hooked"
    assert runs[0].data.metrics["objective"] == 0.5
    assert runs[0].data.tags["mlflow.parentRunId"] == env["MLFLOW_PARENT_RUN_ID"]


def test_a_tracker_that_hangs_neither_fails_nor_slows_the_study(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that accepts connections and never answers: each call would wait out its
    timeout (10 s here) were it made on the study's path; 2 trials would then take 20 s
    more than without tracking."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete in the backlog; nothing ever reads them
        hanging = f"http://127.0.0.1:{silent.getsockname()[1]}"
        args: dict[str, Any] = {
            "parameters": PARAMETERS, "objective": {"metric": "loss", "direction": "minimize"},
            "cost": {"metric": "flops"}, "budget": {"maxTrials": 2}, "parallelism": 2,
            "progress": False, "state_dir": tmp_path / "state"}
        began = time.monotonic()
        tune(quick, **args, name="baseline")
        baseline = time.monotonic() - began
        began = time.monotonic()
        result = tune(quick, **args, name="hanging",
                      tracking={"mlflow": {"trackingUri": hanging}})
        elapsed = time.monotonic() - began
    assert [t.phase for t in result.records] == [TrialPhase.SUCCEEDED] * 2
    # The start's bounded wait for the parent run (2 s) and importing mlflow in a thread
    # of this process; no call's timeout, and no flush at the end.
    assert elapsed < baseline + 10.0, (elapsed, baseline)


@pytest.mark.usefixtures("patient_operator_stop")
async def test_the_operator_sends_each_finished_trial_to_mlflow(
    mlflow_server: str, cluster: Cluster, kubelet: SimulatedKubelet  # noqa: F811
) -> None:
    """The real kopf operator on the API emulator (the simulated kubelet reports each
    trial's result, as in tests/k8s): its reconciler's hook logs every trial."""
    kubelet.objective = lambda params: {"loss": params["lr"], "flops": float(params["width"])}
    body = study_body("operated", "default", mlflow_server)
    body["spec"]["budget"] = {"maxTrials": 2}
    await cluster.create(body)
    async with carbs_operator(cluster):
        await wait_phase(cluster, "Succeeded", name="operated")
    client = mlflow.tracking.MlflowClient(mlflow_server)

    def children() -> list[Any]:
        experiment = client.get_experiment_by_name("operated")
        if experiment is None:
            return []
        found: list[Any] = client.search_runs(
            [experiment.experiment_id], filter_string="tags.`carbs.phase` = 'Succeeded'")
        return found

    deadline = time.monotonic() + 120
    while len(children()) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    runs = children()
    assert sorted(r.data.tags["carbs.trial"] for r in runs) == ["operated-0", "operated-1"]
    assert {r.data.tags["carbs.study"] for r in runs} == {"default/operated"}
    assert len({r.data.tags["mlflow.parentRunId"] for r in runs}) == 1
