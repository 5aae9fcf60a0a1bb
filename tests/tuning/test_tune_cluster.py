"""tune(cluster=True) against the API emulator with the real kopf operator.

Real: kopf and our handlers, HTTP on 127.0.0.1, the kubernetes client tune() uses to apply
and follow the study, the engine, and the trial entry point itself. Simulated: the Job
controller and kubelet (tests/support/kubelet.py). The simulated kubelet cannot run a
container image, so its objective runs what the container would run, for real, as a
subprocess: `python -m carbs_operator.tuning.trial` with the container's CARBS_TUNE_FUNCTION
and the trial's CARBS_PARAMS, and hands back the result that the trial's report() wrote (in
a pod, report() writes the termination message and annotation the kubelet fakes here).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbs_operator import load_study, to_manifest, tune
from carbs_operator.tuning.shipping import ENV_FUNCTION
from tests.k8s.conftest import carbs_operator, trials_of
from tests.support.emulator import Cluster
from tests.support.fixtures import cluster, kubelet  # noqa: F401 - fixtures, by name
from tests.support.kubelet import SimulatedKubelet
from tests.tuning.cluster_train import train
from tests.tuning.patience import patient_operator_stop  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
PARAMETERS: list[dict[str, Any]] = [
    {"name": "lr", "space": "log", "min": 1e-4, "max": 1.0, "searchCenter": 1e-3},
    {"name": "width", "space": "log", "min": 4, "max": 256, "integer": True, "searchCenter": 16},
]
ARGS: dict[str, Any] = {
    "parameters": PARAMETERS, "objective": {"metric": "loss", "direction": "minimize"},
    "cost": {"metric": "flops"}, "budget": {"maxTrials": 4}, "parallelism": 2,
    "image": "registry.example/train:1", "name": "fn-study",
}


def container_env(manifest: dict[str, Any]) -> dict[str, str]:
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    return {var["name"]: var["value"] for var in container["env"]}


def trial_runner(payload: str, tmp_path: Path) -> Any:
    """The kubelet's objective: run the container's command for real (module docstring)."""
    async def run(params: dict[str, Any]) -> Any:
        result = tmp_path / f"result-{uuid.uuid4().hex}.json"
        env = {**os.environ, ENV_FUNCTION: payload, "CARBS_PARAMS": json.dumps(params),
               "CARBS_RESULT_FILE": str(result),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT)])}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "carbs_operator.tuning.trial", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await process.communicate()
        if process.returncode != 0:
            return RuntimeError(output.decode()[-500:])
        return json.loads(result.read_text())

    return run


def test_to_manifest_is_the_study_tune_applies() -> None:
    text = to_manifest(train, **ARGS, namespace="ml")
    manifest = yaml.safe_load(text)
    assert manifest["metadata"] == {"name": "fn-study", "namespace": "ml"}
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/train:1"
    assert container["command"] == ["python", "-m", "carbs_operator.tuning.trial"]
    shipped = json.loads(container_env(manifest)[ENV_FUNCTION])
    # Defined in an importable module: shipped by reference, not by source.
    assert (shipped["kind"], shipped["module"], shipped["qualname"]) == (
        "module", "tests.tuning.cluster_train", "train")


def test_to_manifest_puts_spec_tracking_env_in_the_container() -> None:
    manifest = yaml.safe_load(to_manifest(
        train, **ARGS, tracking={"wandb": {"project": "p", "entity": "team"},
                                 "mlflow": {"trackingUri": "http://mlflow:5000"}}))
    env = container_env(manifest)
    assert env["WANDB_PROJECT"] == "p"
    assert env["WANDB_ENTITY"] == "team"
    assert env["WANDB_RUN_GROUP"] == "fn-study"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["MLFLOW_EXPERIMENT_NAME"] == "fn-study"
    assert manifest["spec"]["tracking"]["wandb"] == {"project": "p", "entity": "team"}


@pytest.mark.usefixtures("patient_operator_stop")
async def test_tune_on_the_cluster_applies_follows_and_reads_the_study(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path  # noqa: F811
) -> None:
    manifest = yaml.safe_load(to_manifest(train, **ARGS, namespace="default"))
    kubelet.objective = trial_runner(container_env(manifest)[ENV_FUNCTION], tmp_path)
    client = cluster.api_client()
    async with carbs_operator(cluster):
        result = await asyncio.to_thread(
            tune, train, **ARGS, cluster=True, namespace="default", api_client=client,
            poll_seconds=0.2, progress=False)
    assert [t.phase.value for t in result.records] == ["Succeeded"] * 4
    trials = await trials_of(cluster, "fn-study")
    assert sorted(t["status"]["objective"] for t in trials) == sorted(
        float(t.objective or 0.0) for t in result.records)
    best = result.best
    assert best is not None
    assert best.objective == train(dict(best.params))["loss"]
    jobs = await cluster.list("batch/v1", "jobs", "default")
    container = jobs[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["python", "-m", "carbs_operator.tuning.trial"]
    again = await asyncio.to_thread(load_study, "fn-study", cluster=True, namespace="default",
                                    api_client=client)
    assert again.best == best
    assert len(result.frontier) >= 1
