"""`carbs ui --cluster`'s source against the API emulator, with the real operator running
the study (real kopf, HTTP on 127.0.0.1, the kubernetes client's list and watch).
Simulated (cannot run here): the Job controller and kubelet (tests/support/kubelet.py).

The UI reads the same view as the operator's status, keeps up through its watches, and
makes no API request per page view: only a trial's own page reads one pod log.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from carbs_operator.ui.cluster_source import ClusterSource, study_key
from carbs_operator.ui.source import StudyNotFoundError
from tests.k8s.conftest import carbs_operator, get_study, objective, study
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet, Streamed
from tests.support.ui_sources import cluster_source, until


class CountingClient:
    """Counts the HTTP requests a kubernetes ApiClient sends (a watch counts once)."""

    def __init__(self, client: Any) -> None:
        self.client, self.count = client, 0
        request = client.rest_client.request

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return request(*args, **kwargs)

        client.rest_client.request = counted


@pytest.fixture
async def source(cluster: Cluster) -> AsyncIterator[tuple[ClusterSource, CountingClient]]:
    counting = CountingClient(cluster.api_client())
    async with cluster_source(counting.client) as found:
        yield found, counting


async def test_the_ui_shows_the_operators_study_as_its_status_says(
    cluster: Cluster, kubelet: SimulatedKubelet,
    source: tuple[ClusterSource, CountingClient],
) -> None:
    found, counting = source

    def logged(params: dict[str, float]) -> Streamed:
        return Streamed([(0.0, f"training <b>size</b>={params['size']}\n")], objective(params))

    kubelet.objective = logged
    await cluster.create(study(budget={"maxTrials": 6, "maxFailedTrials": 3}))
    key = study_key("default", "quad")
    async with carbs_operator(cluster):
        # The watch brings the study and its trials in while they run.
        await until(lambda: any(s["key"] == key for s in found.studies()))
        revision = await asyncio.to_thread(found.revision, key)
        summary = await until(lambda: next(
            (s for s in found.studies() if s["key"] == key and s["phase"] == "Succeeded"),
            None))
    assert await asyncio.to_thread(found.revision, key) != revision
    obj = await get_study(cluster)
    assert summary["trials"] == {"finished": 6, "total": 6, "budget": 6}
    assert summary["best"]["objective"] == obj["status"]["bestTrial"]["objective"]
    view = await asyncio.to_thread(found.view, key)
    assert len(view["trials"]) == 6
    assert [f"quad-{i}" for i in view["frontier"]] == [
        p["trial"] for p in obj["status"]["paretoFrontier"]]
    assert [law["parameter"] for law in view["laws"]] == ["lr", "x", "size"]
    assert "status:" not in view["manifest"]
    assert "kind: CarbsStudy" in view["manifest"]

    # Page views read memory: no request per view, curve or trial list.
    before = counting.count
    for _ in range(10):
        await asyncio.to_thread(found.studies)
        await asyncio.to_thread(found.view, key)
        await asyncio.to_thread(found.curves, key)
    assert counting.count - before <= 2  # at most a watch renewed meanwhile
    # A trial's page reads its pod's log: two requests (find the pod, read its tail).
    before = counting.count
    detail = await asyncio.to_thread(found.trial, key, view["trials"][0]["index"])
    assert detail is not None
    size = view["trials"][0]["params"]["size"]
    assert detail["log"] == [f"training <b>size</b>={size:g}"]
    assert counting.count - before <= 3
    assert await asyncio.to_thread(found.trial, key, 99) is None
    with pytest.raises(StudyNotFoundError):
        await asyncio.to_thread(found.view, "default~nope")


async def test_a_new_and_a_deleted_study_show_without_a_restart(
    cluster: Cluster, source: tuple[ClusterSource, CountingClient],
) -> None:
    found, _ = source
    await cluster.create(study(name="later"))
    await until(lambda: [s["key"] for s in found.studies()] == ["default~later"])
    await cluster.delete("carbs.dev/v1alpha1", "carbsstudies", "default", "later")
    await until(lambda: found.studies() == [])
