"""pytest fixtures for the integration tests (tests/k8s); import them into a conftest.py::

    from tests.support.fixtures import cluster, kubelet  # noqa: F401

Each test gets its own emulator (about 0.1 s to start) with the ``default`` namespace, and, if
it asks for ``kubelet``, the simulated Job controller + kubelet running the default quadratic
objective; set ``kubelet.objective`` to the test's own. Both stop at teardown and fail the test
if they broke internally.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.support.emulator import Cluster, start_cluster
from tests.support.kubelet import SimulatedKubelet


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[Cluster]:
    """A running API emulator on 127.0.0.1 (see ``tests.support.emulator.Cluster``)."""
    async with start_cluster() as running:
        yield running


@pytest_asyncio.fixture
async def kubelet(cluster: Cluster) -> AsyncIterator[SimulatedKubelet]:
    """The simulated Job controller + kubelet for Jobs labelled ``carbs.dev/study``."""
    async with SimulatedKubelet(cluster) as running:
        yield running
