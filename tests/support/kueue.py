"""A simulated Kueue: a queue with a quota, admitting workloads by un-suspending them.

Kueue cannot run here. What the operator sees of it is what this does: a workload (batch/v1
Jobs by default; any kind with ``spec.suspend``, such as a JobSet, by ``group_version`` and
``plural``) labelled
``kueue.x-k8s.io/queue-name`` is created suspended (Kueue's webhook would make it so; the
trial template says ``suspend: true``), waits in the queue, and is admitted, oldest first,
by setting ``spec.suspend: false`` once fewer than ``quota`` admitted Jobs are unfinished
and it waited at least ``hold`` seconds. ``preempt(name)`` suspends a running Job again, as
Kueue does to make room for higher-priority work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import TracebackType
from typing import Any, Self

from tests.support.emulator import ApiError, Cluster

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"


def _finished(job: dict[str, Any]) -> bool:
    return any(c.get("type") in ("Complete", "Completed", "Failed") and c.get("status") == "True"
               for c in (job.get("status") or {}).get("conditions") or [])


class SimulatedKueue:
    """See the module docstring; an async context manager polling every 0.05 s."""

    def __init__(self, cluster: Cluster, *, quota: int = 1, hold: float = 0.0,
                 namespace: str = "default", group_version: str = "batch/v1",
                 plural: str = "jobs") -> None:
        self.cluster = cluster
        self.group_version = group_version
        self.plural = plural
        self.quota = quota
        self.hold = hold
        self.namespace = namespace
        self.first_seen: dict[str, float] = {}
        self.admitted_at: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def preempt(self, name: str) -> None:
        await self.cluster.patch(self.group_version, self.plural, self.namespace, name,
                                 {"spec": {"suspend": True}})

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(ApiError):
                await self._admit()
            await asyncio.sleep(0.05)

    async def _admit(self) -> None:
        jobs = await self.cluster.list(self.group_version, self.plural, self.namespace,
                                       label_selector=QUEUE_LABEL)
        now = time.monotonic()
        for job in jobs:
            self.first_seen.setdefault(job["metadata"]["name"], now)
        admitted = [j for j in jobs if not j["spec"].get("suspend") and not _finished(j)]
        waiting = sorted((j for j in jobs if j["spec"].get("suspend")
                          and j["metadata"]["name"] not in self.admitted_at),
                         key=lambda j: self.first_seen[j["metadata"]["name"]])
        for job in waiting:
            name = job["metadata"]["name"]
            if len(admitted) >= self.quota or now - self.first_seen[name] < self.hold:
                break
            await self.cluster.patch(self.group_version, self.plural, self.namespace, name,
                                     {"spec": {"suspend": False}})
            self.admitted_at[name] = now
            admitted.append(job)
