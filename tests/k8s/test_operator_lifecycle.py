"""Live edits, suspend, deletion, several namespaces and invalid studies, on the emulator."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.k8s.conftest import GV, carbs_operator, get_study, objective, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kubelet import PhaseDelays, SimulatedKubelet


async def in_flight(cluster: Cluster, name: str = "quad") -> int:
    trials = await trials_of(cluster, name)
    return sum((t.get("status") or {}).get("phase") in (None, "Pending", "Running")
               for t in trials)


async def phase(cluster: Cluster, name: str = "quad", namespace: str = "default") -> str | None:
    status: dict[str, Any] = (await get_study(cluster, name, namespace)).get("status") or {}
    return status.get("phase")


async def test_raising_parallelism_and_max_trials_takes_effect(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    kubelet.delays = PhaseDelays(pending=0.05, running=0.6, finishing=0.05)
    await cluster.create(study(parallelism=1, budget={"maxTrials": 8, "maxFailedTrials": 1}))
    async with carbs_operator(cluster):
        await cluster.wait_for(lambda: _at_least(trials_of(cluster), 2), 20, what="2 trials")
        assert await in_flight(cluster) <= 1
        await cluster.patch(GV, "carbsstudies", "default", "quad",
                            {"spec": {"parallelism": 3, "budget": {"maxTrials": 10}}})

        async def three_at_once() -> bool:
            return await in_flight(cluster) == 3

        await cluster.wait_for(three_at_once, 20, what="3 trials in flight")

        async def done() -> bool:
            return await phase(cluster) == "Succeeded"

        await cluster.wait_for(done, 60, what="Succeeded")
    assert len(await trials_of(cluster)) == 10


async def test_suspend_and_resume(cluster: Cluster, kubelet: SimulatedKubelet) -> None:
    kubelet.objective = objective
    await cluster.create(study(suspend=True))
    async with carbs_operator(cluster):
        async def suspended() -> bool:
            return await phase(cluster) == "Suspended"

        await cluster.wait_for(suspended, 10, what="Suspended")
        await asyncio.sleep(0.5)
        assert await trials_of(cluster) == []
        await cluster.patch(GV, "carbsstudies", "default", "quad", {"spec": {"suspend": False}})

        async def done() -> bool:
            return await phase(cluster) == "Succeeded"

        await cluster.wait_for(done, 60, what="Succeeded after resume")
    assert len(await trials_of(cluster)) == 6


async def test_deleting_a_study_removes_its_trials_jobs_and_pods(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create(study())
    async with carbs_operator(cluster):
        await cluster.wait_for(lambda: _at_least(trials_of(cluster), 3), 20, what="3 trials")
        await cluster.delete(GV, "carbsstudies", "default", "quad")

        async def all_gone() -> bool:
            left = [
                *(await cluster.list(GV, "carbstrials", "default")),
                *(await cluster.list("batch/v1", "jobs", "default")),
                *(await cluster.list("v1", "pods", "default")),
            ]
            return not left and await cluster.find(GV, "carbsstudies", "default", "quad") is None

        try:
            await cluster.wait_for(all_gone, 20, what="everything deleted")
        except TimeoutError:
            left = [(o["kind"], o["metadata"]["name"], o["metadata"].get("ownerReferences"))
                    for o in [*(await cluster.list(GV, "carbstrials", "default")),
                              *(await cluster.list("batch/v1", "jobs", "default")),
                              *(await cluster.list("v1", "pods", "default"))]]
            raise AssertionError(left) from None
        # The operator stays healthy and serves a new study of the same name.
        await cluster.create(study(budget={"maxTrials": 2, "maxFailedTrials": 1}))

        async def done() -> bool:
            return await phase(cluster) == "Succeeded"

        await cluster.wait_for(done, 30, what="the new study Succeeded")


async def test_two_studies_in_two_namespaces_and_an_invalid_one(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create_namespace("team-b")
    await cluster.create(study("alpha", "default", budget={"maxTrials": 4, "maxFailedTrials": 1}))
    await cluster.create(study("beta", "team-b", budget={"maxTrials": 3, "maxFailedTrials": 1}))
    broken = study("broken", "default")
    broken["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = [
        "--lr=${params.learning_rate}"
    ]
    await cluster.create(broken)
    async with carbs_operator(cluster, namespaces=("default", "team-b")):
        async def both_done() -> bool:
            return (await phase(cluster, "alpha") == "Succeeded"
                    and await phase(cluster, "beta", "team-b") == "Succeeded")

        await cluster.wait_for(both_done, 60, what="both studies Succeeded")
        invalid = await get_study(cluster, "broken")
    assert invalid["status"]["phase"] == "Invalid"
    valid = next(c for c in invalid["status"]["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False"
    assert valid["reason"] == "InvalidSpec"
    assert "spec.trialTemplate" in valid["message"]
    assert "learning_rate" in valid["message"]
    assert await trials_of(cluster, "broken") == []
    assert len(await trials_of(cluster, "alpha")) == 4
    assert len(await trials_of(cluster, "beta", "team-b")) == 3
    events = await cluster.list("v1", "events", "default")
    reasons = {e.get("reason") for e in events}
    assert {"TrialCreated", "TrialSucceeded", "InvalidSpec"} <= reasons


async def _at_least(found: Any, n: int) -> bool:
    return len(await found) >= n
