"""Replicas share the studies by shard Leases: scale up, scale down, with real Lease objects.

Each replica is the operator's own entry point (`k8s.main.operator`) in a thread and loop
of its own, against one emulator; none is told of the others. Every pass of every study's
reconciler is recorded (replica, study, start, end), and no two replicas may ever have a
pass of the same study running at once; every trial runs exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter

import pytest

from carbs_operator.k8s.leases import LABEL_GROUP
from carbs_operator.k8s.reconciler import StudyReconciler
from tests.k8s.conftest import get_study, objective, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kopf_harness import carbs_operator_thread
from tests.support.kubelet import SimulatedKubelet

SHARDS = 8
STUDIES = [f"s{i}" for i in range(6)]
TRIALS = 6
Pass = tuple[int, str, float, float]  # (replica thread, study, start, end)


@pytest.fixture
def passes(monkeypatch: pytest.MonkeyPatch) -> list[Pass]:
    """Every reconcile pass of every replica in this process."""
    record: list[Pass] = []
    original = StudyReconciler.reconcile

    async def traced(self: StudyReconciler) -> None:
        began = time.monotonic()
        try:
            await original(self)
        finally:
            record.append((threading.get_ident(), self.name, began, time.monotonic()))

    monkeypatch.setattr(StudyReconciler, "reconcile", traced)
    return record


class Replica:
    def __init__(self, cluster: Cluster) -> None:
        self.stop_flag = threading.Event()
        self.thread = carbs_operator_thread(
            cluster, self.stop_flag, namespaces=["default"], resync_seconds=0.5,
            shards=SHARDS, lease_seconds=1.5, workers=1)

    async def stop(self) -> None:
        self.stop_flag.set()
        await asyncio.to_thread(self.thread.join, 20)
        assert not self.thread.is_alive()


async def holders(cluster: Cluster) -> Counter[str]:
    """Shards per holder, from the shard Leases."""
    leases = await cluster.list("coordination.k8s.io/v1", "leases", "default",
                                label_selector=f"{LABEL_GROUP}=carbs-operator")
    return Counter(str((lease.get("spec") or {}).get("holderIdentity") or "")
                   for lease in leases if "-shard-" in lease["metadata"]["name"])


async def wait_holders(cluster: Cluster, count: int, timeout: float = 30) -> Counter[str]:
    async def spread() -> Counter[str] | None:
        found = await holders(cluster)
        live = {h: n for h, n in found.items() if h}
        return found if len(live) == count and sum(live.values()) == SHARDS else None

    return await cluster.wait_for(spread, timeout, what=f"{SHARDS} shards over {count} replica(s)")


async def all_succeeded(cluster: Cluster, timeout: float = 120) -> None:
    async def done() -> bool:
        phases = [((await get_study(cluster, name)).get("status") or {}).get("phase")
                  for name in STUDIES]
        return all(phase == "Succeeded" for phase in phases)

    await cluster.wait_for(done, timeout, what="every study Succeeded")


async def create_studies(cluster: Cluster) -> None:
    for name in STUDIES:
        await cluster.create(study(name, budget={"maxTrials": TRIALS, "maxFailedTrials": 2}))


async def exactly_once(cluster: Cluster, kubelet: SimulatedKubelet, passes: list[Pass]) -> None:
    for name in STUDIES:
        assert [t["spec"]["index"] for t in await trials_of(cluster, name)] == list(range(TRIALS))
    assert set(Counter(kubelet.started_jobs).values()) == {1}
    by_study: dict[str, list[Pass]] = {}
    for entry in passes:
        by_study.setdefault(entry[1], []).append(entry)
    for name, entries in by_study.items():
        entries.sort(key=lambda e: e[2])
        for a, b in itertools.pairwise(entries):
            assert a[0] == b[0] or b[2] >= a[3], f"{name}: two replicas reconciled it at once"
    # (Which replica did which study depends on where rendezvous hashing put the shards
    # that hold these 6 studies: that both held shards is checked by wait_holders.)


async def test_scaling_up_moves_shards_to_the_new_replica(
    cluster: Cluster, kubelet: SimulatedKubelet, passes: list[Pass]
) -> None:
    kubelet.objective = objective
    await create_studies(cluster)
    first = Replica(cluster)
    second: Replica | None = None
    try:
        await wait_holders(cluster, 1)
        await cluster.wait_for(lambda: len(kubelet.started_jobs) >= 4, 60, what="first trials")
        second = Replica(cluster)
        spread = await wait_holders(cluster, 2)
        assert min(spread.values()) >= 1
        await all_succeeded(cluster)
    finally:
        for replica in (first, second):
            if replica is not None:
                await replica.stop()
    await exactly_once(cluster, kubelet, passes)
    assert await holders(cluster) == Counter({"": SHARDS})  # both gave their shards up


async def test_scaling_down_hands_the_shards_to_the_replica_left(
    cluster: Cluster, kubelet: SimulatedKubelet, passes: list[Pass]
) -> None:
    kubelet.objective = objective
    await create_studies(cluster)
    first, second = Replica(cluster), Replica(cluster)
    stopped = False
    try:
        await wait_holders(cluster, 2)
        await cluster.wait_for(lambda: len(kubelet.started_jobs) >= 4, 60, what="first trials")
        await second.stop()
        stopped = True
        await wait_holders(cluster, 1, timeout=10)
        await all_succeeded(cluster)
    finally:
        await first.stop()
        if not stopped:
            await second.stop()
    await exactly_once(cluster, kubelet, passes)
