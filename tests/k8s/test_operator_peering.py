"""Two operator replicas with kopf peering (`--peering NAME`, the active/standby mode kept
beside sharding): one works, the other stands by; no duplicates."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter

from tests.k8s.conftest import get_study, objective, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kopf_harness import carbs_operator_thread
from tests.support.kubelet import SimulatedKubelet


def replica(cluster: Cluster, stop: threading.Event) -> threading.Thread:
    """`carbs operator --peering carbs-operator` (random priority), in its own thread."""
    return carbs_operator_thread(cluster, stop, namespaces=["default"], standalone=False,
                                 peering_name="carbs-operator", resync_seconds=0.5)


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
