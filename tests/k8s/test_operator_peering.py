"""Two operator replicas with kopf peering: one works, the other stands by; no duplicates."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from carbs_operator.k8s.main import operator
from tests.k8s.conftest import get_study, objective, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet


def replica(cluster: Cluster, stop: threading.Event) -> threading.Thread:
    """`carbs operator` with peering (random priority), in its own thread and loop."""
    connection = cluster.connection_info()

    async def run() -> None:
        flag = asyncio.Event()

        async def relay() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.02)
            flag.set()

        relay_task = asyncio.create_task(relay())
        await operator(api_client=cluster.api_client(), namespaces=["default"],
                       standalone=False, login=lambda **_: connection, stop_flag=flag,
                       resync_seconds=0.5)
        await relay_task

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    return thread


async def test_two_replicas_finish_a_study_exactly_once(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create_peering("default", name="carbs-operator")
    await cluster.create(study(budget={"maxTrials": 8, "maxFailedTrials": 1}))
    stop = threading.Event()
    threads = [replica(cluster, stop), replica(cluster, stop)]
    try:
        async def succeeded() -> bool:
            status = (await get_study(cluster)).get("status") or {}
            return status.get("phase") == "Succeeded"

        await cluster.wait_for(succeeded, 60, what="study Succeeded with two replicas")
        peering = await cluster.get("kopf.dev/v1", "kopfpeerings", "default", "carbs-operator")
        assert len(peering.get("status") or {}) == 2  # both replicas announced themselves
    finally:
        stop.set()
        for thread in threads:
            await asyncio.to_thread(thread.join, 15)
    trials = await trials_of(cluster)
    assert [t["spec"]["index"] for t in trials] == list(range(8))
    assert set(Counter(kubelet.started_jobs).values()) == {1}
