"""Run the real kopf operator in-process against the emulator: its own thread, its own loop.

Why a thread: when ``kopf.operator()`` stops, it waits up to 5 s for, then cancels, every task
of its event loop that was created after it started (``kopf._core.reactor.running.run_tasks``:
"every task created after the operator's startup is assumed to be a task or a sub-task of the
operator"). In the test's loop those would be the emulator's HTTP handlers and the simulated
kubelet. In a thread of its own, kopf owns its loop and talks to the emulator over real HTTP
on 127.0.0.1, as it would to a real API server; the test's loop keeps serving it.

Usage (``registry`` defaults to kopf's default registry, where the operator's module-level
``@kopf.on...`` handlers live)::

    async with run_operator(cluster, registry, namespaces=["default"]) as operator:
        await cluster.wait_for(...)

The login handler it installs, ``emulator_login``, returns the running cluster's
``ConnectionInfo``; a test that drives kopf by other means can instead register::

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return cluster.connection_info()

A subprocess operator (``carbs operator``) needs neither: give it ``KUBECONFIG`` pointing at
``cluster.kubeconfig(tmp_path / "kubeconfig")`` and kopf's own kubeconfig login finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import weakref
from collections.abc import AsyncIterator, Collection
from typing import Any

import kopf

from tests.support.emulator import Cluster

_CONNECTION: contextvars.ContextVar[kopf.ConnectionInfo] = contextvars.ContextVar(
    "emulator_connection")
_INSTALLED: weakref.WeakSet[kopf.OperatorRegistry] = weakref.WeakSet()


async def emulator_login(**_: Any) -> kopf.ConnectionInfo | None:
    """``@kopf.on.login``: the emulator of the operator thread that runs this handler."""
    return _CONNECTION.get(None)


def install_login(registry: kopf.OperatorRegistry) -> None:
    """Register ``emulator_login`` in a registry, once (it then hides kopf's fallback logins)."""
    if registry not in _INSTALLED:
        kopf.on.login(registry=registry, id="emulator-login")(emulator_login)
        _INSTALLED.add(registry)


class OperatorThread:
    """One ``kopf.operator()`` run in a daemon thread with its own event loop."""

    def __init__(self, cluster: Cluster, registry: kopf.OperatorRegistry, *,
                 settings: kopf.OperatorSettings | None = None,
                 namespaces: Collection[str] = ("default",), clusterwide: bool = False,
                 standalone: bool = True, peering_name: str | None = None,
                 memo: object | None = None) -> None:
        self.connection = cluster.connection_info()
        self.registry = registry
        self.settings = settings
        self.namespaces = tuple(namespaces)
        self.clusterwide = clusterwide
        self.standalone = standalone
        self.peering_name = peering_name
        self.memo = memo
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.stop_flag = threading.Event()
        self._thread = threading.Thread(target=self._main, name="kopf-operator", daemon=True)

    def _main(self) -> None:
        _CONNECTION.set(self.connection)
        try:
            asyncio.run(kopf.operator(
                registry=self.registry, settings=self.settings, standalone=self.standalone,
                clusterwide=self.clusterwide,
                namespaces=() if self.clusterwide else self.namespaces,
                peering_name=self.peering_name, memo=self.memo,
                stop_flag=self.stop_flag, ready_flag=self.ready))
        except BaseException as exc:
            self.error = exc

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def start(self, timeout: float = 10.0) -> None:
        """Start the thread and wait until kopf says it is ready (or died trying)."""
        self._thread.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.ready.is_set():
            if not self._thread.is_alive():
                raise RuntimeError("kopf exited before it was ready") from self.error
            if loop.time() > deadline:
                raise TimeoutError(f"kopf was not ready within {timeout} s")
            await asyncio.sleep(0.01)

    async def stop(self, timeout: float = 10.0) -> None:
        """Set kopf's stop flag, wait for the thread to end, re-raise what kopf raised."""
        self.stop_flag.set()
        await asyncio.to_thread(self._thread.join, timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"kopf did not stop within {timeout} s")
        if self.error is not None:
            raise self.error


@contextlib.asynccontextmanager
async def run_operator(cluster: Cluster, registry: kopf.OperatorRegistry | None = None, *,
                       settings: kopf.OperatorSettings | None = None,
                       namespaces: Collection[str] = ("default",), clusterwide: bool = False,
                       standalone: bool = True, peering_name: str | None = None,
                       memo: object | None = None,
                       timeout: float = 10.0) -> AsyncIterator[OperatorThread]:
    """Run kopf against ``cluster`` for the duration of the block; stop it cleanly at exit."""
    registry = registry if registry is not None else kopf.get_default_registry()
    install_login(registry)
    operator = OperatorThread(cluster, registry, settings=settings, namespaces=namespaces,
                              clusterwide=clusterwide, standalone=standalone,
                              peering_name=peering_name, memo=memo)
    try:
        await operator.start(timeout)
        yield operator
    finally:
        await operator.stop(timeout)


def carbs_operator_thread(cluster: Cluster, stop: threading.Event,
                          **options: Any) -> threading.Thread:
    """`carbs_operator.k8s.main.operator(**options)` in a daemon thread with its own loop,
    logged in to the emulator, until `stop` is set (join the thread afterwards).

    For tests that need the operator's own entry point (peering with random priorities,
    the handlers' real registry) rather than a bare kopf registry.
    """
    from carbs_operator.k8s.main import operator

    connection = cluster.connection_info()

    async def run() -> None:
        flag = asyncio.Event()

        async def relay() -> None:
            while not stop.is_set():
                await asyncio.sleep(0.02)
            flag.set()

        relay_task = asyncio.create_task(relay())
        await operator(api_client=cluster.api_client(), login=lambda **_: connection,
                       stop_flag=flag, **options)
        await relay_task

    thread = threading.Thread(target=lambda: asyncio.run(run()), daemon=True)
    thread.start()
    return thread
