"""Trials of any size on the emulator: JobSet and TrainJob trials with the real operator,
their controllers simulated (tests/support/workload_sim.py), their CRDs minimal stand-ins."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from tests.k8s.conftest import carbs_operator, get_study, objective, study, trials_of
from tests.k8s.test_operator_flow import wait_phase
from tests.support.emulator import Cluster
from tests.support.kubelet import Output, PhaseDelays
from tests.support.workload_sim import ReplicaFailure, SimulatedWorkloads, install_crds

ARGS = ["--lr=${params.lr}", "--x=${params.x}", "--size=${params.size}"]
ALL_KINDS = frozenset({"Job", "JobSet", "TrainJob", "PyTorchJob"})


def jobset_study(name: str, **spec: Any) -> dict[str, Any]:
    """Two-pod trials: one replicated job of an Indexed Job with parallelism 2, 1 GPU each,
    a sidecar beside the trainer in every pod."""
    container = {"name": "trainer", "image": "example/ddp:1", "command": ["torchrun"],
                 "args": ARGS, "env": [{"name": "LR", "value": "${params.lr}"}],
                 "resources": {"limits": {"nvidia.com/gpu": 1}}}
    sidecar = {"name": "logger", "image": "busybox", "args": ["--size=${params.size}"]}
    template = {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
                "metadata": {"labels": {"team": "ml"}},
                "spec": {"replicatedJobs": [{"name": "workers", "replicas": 1, "template": {
                    "spec": {"parallelism": 2, "completions": 2, "completionMode": "Indexed",
                             "backoffLimit": 0, "template": {"spec": {
                                 "restartPolicy": "Never",
                                 "containers": [container, sidecar]}}}}}]}}
    return study(name, trialTemplate=template, **spec)


def trainjob_study(name: str, **spec: Any) -> dict[str, Any]:
    template = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
                "spec": {"runtimeRef": {"name": "torch-distributed"},
                         "trainer": {"image": "example/ddp:1", "command": ["python", "t.py"],
                                     "args": ARGS, "numNodes": 2}}}
    return study(name, trialTemplate=template, **spec)


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def pod_gpu_seconds(pod: dict[str, Any]) -> float:
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    return _seconds(terminated["finishedAt"]) - _seconds(terminated["startedAt"])


async def test_a_jobset_study_of_two_pod_trials_runs_to_its_budget(cluster: Cluster) -> None:
    await install_crds(cluster, "jobset")
    body = jobset_study("ddp", cost={"source": "gpuSeconds"}, budget={"maxTrials": 3})
    await cluster.create(body)
    delays = PhaseDelays(pending=0.05, running=1.1)
    async with SimulatedWorkloads(cluster, objective, delays=delays), \
            carbs_operator(cluster, trial_kinds=ALL_KINDS):
        done = await wait_phase(cluster, "Succeeded", name="ddp")
    assert done["status"]["progress"] == "3/3"
    for trial in await trials_of(cluster, "ddp"):
        name, params = trial["metadata"]["name"], trial["spec"]["params"]
        assert trial["status"]["phase"] == "Succeeded", trial["status"].get("failureReason")
        assert trial["status"]["objective"] == objective(params)["loss"]  # from rank 0
        pods = await cluster.list("v1", "pods", "default",
                                  label_selector=f"jobset.sigs.k8s.io/jobset-name={name}")
        assert len(pods) == 2
        # gpuSeconds sums both pods (1 GPU each), each from its own start to its own end.
        assert trial["status"]["cost"] == sum(pod_gpu_seconds(p) for p in pods)
        assert trial["status"]["cost"] >= 2.0
        jobset = await cluster.get("jobset.x-k8s.io/v1alpha2", "jobsets", "default", name)
        assert jobset["metadata"]["labels"]["carbs.dev/trial"] == name
        assert jobset["metadata"]["labels"]["team"] == "ml"
        owner = jobset["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("CarbsTrial", trial["metadata"]["uid"])
        pod_template = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]
        assert pod_template["metadata"]["labels"]["carbs.dev/study"] == "ddp"
        trainer, sidecar = pod_template["spec"]["containers"]
        assert trainer["args"] == [f"--lr={params['lr']!r}", f"--x={params['x']!r}",
                                   f"--size={params['size']}"]
        assert sidecar["args"] == [f"--size={params['size']}"]
        for container in (trainer, sidecar):
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert json.loads(env["CARBS_PARAMS"]) == params
            assert env["CARBS_TRIAL"] == name
        assert {e["name"]: e.get("value") for e in trainer["env"]}["LR"] == repr(params["lr"])


async def test_a_failed_replica_fails_the_trainjob_trial_with_its_reason(
    cluster: Cluster
) -> None:
    await install_crds(cluster, "trainjob")
    calls: list[int] = []

    def flaky(params: dict[str, float]) -> Any:
        calls.append(1)
        if len(calls) % 2:
            return ReplicaFailure(1, "NCCL timeout on rank 1")
        return objective(params)

    await cluster.create(trainjob_study("tj", budget={"maxTrials": 4}))
    async with SimulatedWorkloads(cluster, flaky), \
            carbs_operator(cluster, trial_kinds=ALL_KINDS):
        await wait_phase(cluster, "Succeeded", name="tj")
    trials = await trials_of(cluster, "tj")
    failed = [t for t in trials if t["status"]["phase"] == "Failed"]
    assert len(failed) == 2
    for trial in failed:
        name = trial["metadata"]["name"]
        assert trial["status"]["failureReason"] == (
            f"replica {name}-node-0-1 (node) exited with code 1: NCCL timeout on rank 1")
    succeeded = [t for t in trials if t["status"]["phase"] == "Succeeded"]
    assert len(succeeded) == 2
    trainjob = await cluster.get("trainer.kubeflow.org/v1alpha1", "trainjobs", "default",
                                 succeeded[0]["metadata"]["name"])
    assert trainjob["spec"]["labels"]["carbs.dev/trial"] == succeeded[0]["metadata"]["name"]
    env = {e["name"] for e in trainjob["spec"]["trainer"]["env"]}
    assert {"CARBS_PARAMS", "CARBS_TRIAL", "CARBS_STUDY"} <= env


async def test_a_kind_the_operator_may_not_create_or_not_installed_is_invalid(
    cluster: Cluster
) -> None:
    await cluster.create(jobset_study("forbidden"))

    async def invalid(name: str) -> dict[str, Any] | None:
        obj = await get_study(cluster, name)
        return obj if (obj.get("status") or {}).get("phase") == "Invalid" else None

    async with carbs_operator(cluster, trial_kinds=frozenset({"Job", "TrainJob"})):
        forbidden = await cluster.wait_for(lambda: invalid("forbidden"), 20.0, what="Invalid")
    await cluster.create(jobset_study("missing"))
    async with carbs_operator(cluster, trial_kinds=ALL_KINDS):
        missing = await cluster.wait_for(lambda: invalid("missing"), 20.0, what="Invalid")
    valid = {c["type"]: c for c in forbidden["status"]["conditions"]}["Valid"]
    assert valid["reason"] == "WorkloadKindUnavailable"
    assert "the operator may not create jobsets (allowed: Job, TrainJob); add JobSet to the " \
        "chart's trialKinds" in valid["message"]
    valid = {c["type"]: c for c in missing["status"]["conditions"]}["Valid"]
    assert "the cluster does not serve jobsets; install its CRD" in valid["message"]
    assert await trials_of(cluster, "forbidden") == []
    assert await trials_of(cluster, "missing") == []


async def test_a_stdout_jobset_reads_rank_zero_s_log(cluster: Cluster) -> None:
    await install_crds(cluster, "jobset")

    def printed(params: dict[str, float]) -> Output:
        result = objective(params)
        return Output(f"epoch 1 loss={2 * result['loss']!r}\n"
                      f"epoch 2 loss={result['loss']!r} cost={result['cost']!r}\n")

    body = jobset_study("printed", budget={"maxTrials": 2},
                        metricsCollector={"kind": "StdOut"})
    await cluster.create(body)
    async with SimulatedWorkloads(cluster, printed), \
            carbs_operator(cluster, trial_kinds=ALL_KINDS):
        await wait_phase(cluster, "Succeeded", name="printed")
    for trial in await trials_of(cluster, "printed"):
        assert trial["status"]["phase"] == "Succeeded", trial["status"].get("failureReason")
        assert trial["status"]["objective"] == objective(trial["spec"]["params"])["loss"]
        name = trial["metadata"]["name"]
        rank1 = f"{name}-workers-0-1"
        assert cluster.emulator.pod_logs.texts[("default", rank1, "trainer")] == ""


async def test_primary_pod_labels_that_match_no_pod_fail_the_trial_saying_so(
    cluster: Cluster
) -> None:
    await install_crds(cluster, "jobset")
    body = jobset_study("nolabels", budget={"maxTrials": 1, "maxFailedTrials": 0})
    body["spec"]["trialTemplate"]["primaryPodLabels"] = {"role": "leader"}
    await cluster.create(body)
    async with SimulatedWorkloads(cluster, objective), \
            carbs_operator(cluster, trial_kinds=ALL_KINDS):
        await wait_phase(cluster, "Failed", name="nolabels")
    [trial] = await trials_of(cluster, "nolabels")
    assert trial["status"]["failureReason"] == (
        "no result: none of the trial's 2 pods matches primaryPodLabels {'role': 'leader'}")
