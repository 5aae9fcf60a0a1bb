"""Trials queued by Kueue on the emulator (tests/support/kueue.py plays Kueue): a suspended
workload is a Pending trial whose queue time costs nothing, and a preempted one is Lost and
replaced by a new trial."""

from __future__ import annotations

from typing import Any

from tests.k8s.conftest import carbs_operator, get_study, objective, study, trials_of
from tests.k8s.test_operator_flow import wait_phase
from tests.k8s.test_workload_kinds import ALL_KINDS, jobset_study, pod_gpu_seconds
from tests.support.emulator import Cluster
from tests.support.kubelet import PhaseDelays, SimulatedKubelet
from tests.support.kueue import QUEUE_LABEL, SimulatedKueue
from tests.support.workload_sim import SimulatedWorkloads, install_crds


def queued_study(name: str, **spec: Any) -> dict[str, Any]:
    body = study(name, cost={"source": "runtimeSeconds"}, **spec)
    template = body["spec"]["trialTemplate"]
    template["metadata"] = {"labels": {QUEUE_LABEL: "gpu-queue"}}
    template["spec"]["suspend"] = True  # Kueue's webhook would set it; written here
    return body


async def test_a_queued_trial_waits_pending_without_cost_then_runs(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create(queued_study("queued", budget={"maxTrials": 3}, parallelism=2))
    seen_waiting: list[dict[str, Any]] = []

    async def a_trial_waits() -> bool:
        trials = await trials_of(cluster, "queued")
        status = (await get_study(cluster, "queued")).get("status") or {}
        jobs = {j["metadata"]["name"]: j for j in await cluster.list("batch/v1", "jobs",
                                                                      "default")}
        for trial in trials:
            job = jobs.get(trial["metadata"]["name"])
            phase = (trial.get("status") or {}).get("phase", "Pending")
            if job is not None and job["spec"].get("suspend") and phase == "Pending" and \
                    (status.get("trials") or {}).get("pending", 0) >= 1:
                seen_waiting.append(status)
                return True
        return False

    async with SimulatedKueue(cluster, quota=1, hold=2.5), carbs_operator(cluster):
        await cluster.wait_for(a_trial_waits, 30.0, what="a trial waiting in the queue")
        done = await wait_phase(cluster, "Succeeded", name="queued")
    counts = seen_waiting[0]["trials"]
    assert counts.get("running", 0) + counts["pending"] <= 2  # parallelism counts both
    trials = await trials_of(cluster, "queued")
    assert [t["status"]["phase"] for t in trials] == ["Succeeded"] * 3
    for trial in trials:
        # Every trial waited >= 2.5 s in the queue (quota 1, hold 2.5 s); its cost is the
        # run alone: runtime from the Job's start after admission (1-second timestamps).
        assert trial["status"]["cost"] <= 1.0
        assert trial["status"]["runtimeSeconds"] <= 1.0
    assert done["status"]["trials"]["succeeded"] == 3


async def test_a_preempted_trial_is_lost_and_replaced(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    kubelet.delays = PhaseDelays(pending=0.05, running=1.5, finishing=0.05)
    await cluster.create(queued_study("preempt", budget={"maxTrials": 2}, parallelism=1))

    async def first_running() -> bool:
        trials = await trials_of(cluster, "preempt")
        return bool(trials) and (trials[0].get("status") or {}).get("phase") == "Running"

    async with SimulatedKueue(cluster, quota=1) as kueue, carbs_operator(cluster):
        await cluster.wait_for(first_running, 30.0, what="trial 0 running")
        await kueue.preempt("preempt-0")
        done = await wait_phase(cluster, "Succeeded", name="preempt")
    trials = await trials_of(cluster, "preempt")
    first = trials[0]["status"]
    assert first["phase"] == "Lost"
    assert first["failureReason"].startswith("lost: preempted (its workload was suspended")
    assert [t["status"]["phase"] for t in trials[1:]] == ["Succeeded", "Succeeded"]
    assert done["status"]["trials"]["succeeded"] == 2  # Lost is not counted toward maxTrials
    assert await cluster.find("batch/v1", "jobs", "default", "preempt-0") is None


async def test_queued_and_preempted_jobset_trials(cluster: Cluster) -> None:
    """The same rules for a JobSet: its suspended wait costs no GPU-seconds; preempted while
    it runs, it is Lost and replaced."""
    await install_crds(cluster, "jobset")
    body = jobset_study("qjs", cost={"source": "gpuSeconds"}, budget={"maxTrials": 2},
                        parallelism=1)
    template = body["spec"]["trialTemplate"]
    template["metadata"]["labels"][QUEUE_LABEL] = "gpu-queue"
    template["spec"]["suspend"] = True
    await cluster.create(body)

    async def first_running() -> bool:
        trials = await trials_of(cluster, "qjs")
        return bool(trials) and (trials[0].get("status") or {}).get("phase") == "Running"

    delays = PhaseDelays(pending=0.05, running=1.5)
    async with SimulatedWorkloads(cluster, objective, delays=delays), \
            SimulatedKueue(cluster, quota=1, hold=2.0, group_version="jobset.x-k8s.io/v1alpha2",
                           plural="jobsets") as kueue, \
            carbs_operator(cluster, trial_kinds=ALL_KINDS):
        await cluster.wait_for(first_running, 30.0, what="trial 0 running")
        await kueue.preempt("qjs-0")
        await wait_phase(cluster, "Succeeded", name="qjs")
    trials = await trials_of(cluster, "qjs")
    assert [t["status"]["phase"] for t in trials] == ["Lost", "Succeeded", "Succeeded"]
    for trial in trials[1:]:
        pods = await cluster.list("v1", "pods", "default", label_selector=(
            f"jobset.sigs.k8s.io/jobset-name={trial['metadata']['name']}"))
        # Two pods of 1 GPU, each running ~1.5 s after a 2 s wait in the queue.
        assert trial["status"]["cost"] == sum(pod_gpu_seconds(p) for p in pods)
        assert trial["status"]["cost"] <= 2 * 2.0
