"""An API server that accepts a request and never answers must not hold the operator.

Every call the operator makes itself goes through KubeApi's thread pool. Without a timeout
such a call held its pool thread for good, and Python's exit waits for those threads, so a
SIGTERM did not stop the process either. A real listening socket on 127.0.0.1 that reads
and never writes stands in for the stalled server (nothing here is mocked).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from kubernetes import client as k8s

from carbs_operator.k8s.api import STUDIES, KubeApi

CALLS: dict[str, Callable[[KubeApi], Awaitable[object]]] = {
    "a parsed object": lambda api: api.get(STUDIES, "default", "quad"),
    "a raw body": lambda api: api.pods("default", "app=x"),  # read in the pool as well
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
async def test_a_call_to_a_server_that_never_answers_gives_up_at_the_timeout(
    call: Callable[[KubeApi], Awaitable[object]],
) -> None:
    requests = 0

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        requests += 1
        try:
            await reader.read()  # until the client gives up and closes
        finally:
            writer.close()

    server = await asyncio.start_server(stall, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = k8s.Configuration()
    config.host = f"http://127.0.0.1:{port}"
    config.retries = 0
    api = KubeApi(k8s.ApiClient(config), request_timeout=0.5)
    try:
        began = time.monotonic()
        with pytest.raises(Exception, match=r"(?i)timed? ?out"):
            await asyncio.wait_for(call(api), 30)
        assert time.monotonic() - began < 10
        assert requests == 1  # it reached the server, which then said nothing
    finally:
        api.close()
        server.close()
        await server.wait_closed()
