"""A replica killed with SIGKILL: its shard Leases expire and the replica left takes them
over; every trial still runs exactly once. Both replicas are `carbs operator` processes
started with the same arguments (no flag says there are two)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.k8s.conftest import objective, trials_of
from tests.k8s.test_sharding import (
    SHARDS,
    STUDIES,
    TRIALS,
    all_succeeded,
    create_studies,
    holders,
    wait_holders,
)
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet
from tests.support.operator_process import CarbsOperator

ARGS = ["-n", "default", "--shards", str(SHARDS), "--lease-seconds", "2", "--workers", "1"]


async def test_a_killed_replicas_shards_are_taken_over(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    kubelet.objective = objective
    await create_studies(cluster)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = CarbsOperator(cluster, tmp_path / "a", ARGS)
    second = CarbsOperator(cluster, tmp_path / "b", ARGS)
    async with first, second:
        spread = await wait_holders(cluster, 2, timeout=60)
        await cluster.wait_for(lambda: len(kubelet.started_jobs) >= 4, 60, what="first trials")
        second.kill9()
        killed_at = time.monotonic()
        await wait_holders(cluster, 1, timeout=20)
        takeover = time.monotonic() - killed_at
        await all_succeeded(cluster)
        events = await cluster.list("v1", "events", "default")
    assert len(spread) == 2
    assert takeover < 10, takeover
    for name in STUDIES:
        assert [t["spec"]["index"] for t in await trials_of(cluster, name)] == list(range(TRIALS))
    assert set(Counter(kubelet.started_jobs).values()) == {1}
    assert "holds shards [" in first.output()
    assert any(e.get("reason") == "ShardsHeld" for e in events)
    assert sum((await holders(cluster)).values()) == SHARDS
