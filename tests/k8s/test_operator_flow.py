"""The real kopf operator against the API emulator: a study from apply to completion.

Real: kopf, HTTP on 127.0.0.1, the kubernetes client, the engine. Simulated (cannot run
here): the Job controller and kubelet (tests/support/kubelet.py).
"""

from __future__ import annotations

from typing import Any

from tests.k8s.conftest import carbs_operator, get_study, objective, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet


async def wait_phase(cluster: Cluster, phase: str, name: str = "quad",
                     namespace: str = "default", timeout: float = 60.0) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        obj = await get_study(cluster, name, namespace)
        return obj if (obj.get("status") or {}).get("phase") == phase else None

    return await cluster.wait_for(reached, timeout, what=f"study {name} {phase}")


async def test_study_runs_to_max_trials_and_reports_the_true_best(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create(study())
    async with carbs_operator(cluster):
        done = await wait_phase(cluster, "Succeeded")
    trials = await trials_of(cluster)
    assert [t["spec"]["index"] for t in trials] == list(range(6))
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    status = done["status"]
    assert status["trials"]["succeeded"] == 6
    assert status["progress"] == "6/6"
    best = min(trials, key=lambda t: t["status"]["objective"])
    assert status["bestTrial"]["name"] == best["metadata"]["name"]
    assert status["bestTrial"]["objective"] == best["status"]["objective"]
    assert status["totalCost"] == sum(t["status"]["cost"] for t in trials)
    assert status["paretoFrontier"]
    jobs = await cluster.list("batch/v1", "jobs", "default")
    assert sorted(j["metadata"]["name"] for j in jobs) == [f"quad-{i}" for i in range(6)]
    for trial in trials:
        owner = trial["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["uid"]) == ("CarbsStudy", done["metadata"]["uid"])


async def test_failures_count_and_a_malformed_result_fails_one_trial(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    def flaky(params: dict[str, float]) -> Any:
        if params["x"] > 0.2:
            return RuntimeError("CUDA out of memory")
        if params["x"] < -0.2:
            return "{not json"
        return objective(params)

    kubelet.objective = flaky
    await cluster.create(study(budget={"maxTrials": 10, "maxFailedTrials": 2}))
    async with carbs_operator(cluster):
        done = await wait_phase(cluster, "Failed")
    trials = await trials_of(cluster)
    failed = [t for t in trials if t["status"]["phase"] == "Failed"]
    assert len(failed) >= 3
    reasons = [t["status"]["failureReason"] for t in failed]
    for trial, reason in zip(failed, reasons, strict=True):
        if trial["spec"]["params"]["x"] > 0.2:
            assert "exited with code 1: CUDA out of memory" in reason
        else:
            assert reason.startswith("malformed result")
    conditions = {c["type"]: c for c in done["status"]["conditions"]}
    assert (conditions["Failed"]["status"], conditions["Failed"]["reason"]) == (
        "True", "TooManyFailures")
    assert conditions["Complete"]["status"] == "False"  # `kubectl wait` for Complete waits on
