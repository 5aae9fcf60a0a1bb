"""The UI's cluster source over the emulator, for tests that read it on the event loop
the emulator serves from: every blocking call goes through a thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from carbs_operator.ui.cluster_source import ClusterSource

T = TypeVar("T")


@asynccontextmanager
async def cluster_source(
    api_client: Any, namespaces: tuple[str, ...] = ("default",),
) -> AsyncIterator[ClusterSource]:
    """A started ClusterSource (its watches synced), closed at the end."""
    found = ClusterSource(api_client, list(namespaces))
    await asyncio.to_thread(found.start, 20.0)
    try:
        yield found
    finally:
        found.close()


async def until(check: Callable[[], T | None], timeout: float = 60.0) -> T:
    """`check()`'s first truthy value, run in a thread every 0.2 s; AssertionError when
    `timeout` seconds pass first."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await asyncio.to_thread(check)
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        await asyncio.sleep(0.2)
