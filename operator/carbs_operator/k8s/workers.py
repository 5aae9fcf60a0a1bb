"""The operator's worker pool: engine fits and derived views, off the event loop and off
its GIL.

A process pool, sized from the CPUs the pod may use (`cpus.usable_cpus`), or from
`carbs operator --workers N`. Threads would keep the fits off the loop but not off the GIL:
the engine's Python between torch kernels, the replay of thousands of trials and the
status's frontier computations would take turns with the event loop and with each other.

Processes start from a fork server that imported the worker's modules once, so a new
worker costs a fork, not a second import of torch; and no worker is forked from the
operator's own multi-threaded process.

What crosses the boundary is plain data (worker_tasks.py). A worker that dies (OOM-killed,
a segfault in a native library) breaks a ProcessPoolExecutor for good: every call in
flight fails with BrokenProcessPool. `WorkerPool.call` then replaces the pool and runs the
call again. That is safe because a call has no side effect: it computes from the records
it was given, and the trials it suggests are created by the event loop only after it
answered. So no trial is lost or created twice when a worker dies: at worst a suggestion
is computed twice.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from carbs_operator.k8s import worker_tasks
from carbs_operator.k8s.cpus import usable_cpus

log = logging.getLogger("carbs_operator")
Task = Callable[[dict[str, Any]], dict[str, Any]]
#: A call is tried this often when its workers keep dying (then the error is raised, and the
#: study's pass is retried on its next resync like any other failure).
ATTEMPTS = 3
PRELOAD = ["carbs_operator.k8s.worker_tasks"]


class WorkerPool:
    """`await pool.call(worker_tasks.suggest, payload)`; `workers=0` sizes it from the
    CPUs; `processes=False` runs the same calls in threads (the fallback where processes
    cannot start)."""

    def __init__(self, workers: int = 0, *, processes: bool = True) -> None:
        self.workers = workers if workers > 0 else usable_cpus()
        self.processes = processes
        self._lock = threading.Lock()
        self._executor: Executor | None = None
        self.restarts = 0
        self._views: asyncio.Semaphore | None = None
        # Submitting may wait for a worker to start, seconds for the first (the fork server
        # imports torch): never on the loop, and not in asyncio's default executor either,
        # which asyncio.run waits for when the operator stops.
        self._submitter = ThreadPoolExecutor(max_workers=2, thread_name_prefix="carbs-submit")
        self._warming = False
        self._ready = False
        self._interim: ThreadPoolExecutor | None = None

    async def warm(self) -> None:
        """Start the workers now, not with the first study's first call. Until they are up,
        calls run in a thread of this process (as the engine and the status ran before
        there were workers), so the operator's first trials and statuses do not wait for
        the fork server's imports (seconds; tens on a loaded node).
        A failure here is only logged (the first real call tries again)."""
        self._warming = True
        try:
            await self._call(worker_tasks.ping, {})
            self._ready = True
        except Exception as error:  # the first real call reports it with its study
            log.warning("the worker pool did not start: %s", error)
        finally:
            self._warming = False
            if self._interim is not None:
                self._interim.shutdown(wait=False)

    def _new_executor(self) -> Executor:
        if not self.processes:
            return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="carbs-engine")
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                   initializer=worker_tasks.initialize,
                                   initargs=(os.getpid(),))

    def _current(self) -> Executor:
        with self._lock:
            if self._executor is None:
                self._executor = self._new_executor()
            return self._executor

    def _replace(self, broken: Executor) -> None:
        """Swap a broken executor for a fresh one (once, however many calls saw it break)."""
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                self.restarts += 1

    async def call(self, task: Task, payload: dict[str, Any], *,
                   background: bool = False) -> dict[str, Any]:
        """`task(payload)` in a worker. `background` calls (derived views) may hold at most
        all workers but one, so a suggestion, which a study's next trial waits for, always
        finds a worker without queueing behind views.

        The submission itself runs in a thread: starting a worker process (the first
        call, or after a pool was replaced) waits for the fork server, which imports torch
        once, seconds during which the event loop must keep serving."""
        if background:
            async with self._background():
                return await self._call(task, payload)
        return await self._call(task, payload)

    def _background(self) -> asyncio.Semaphore:
        if self._views is None:
            self._views = asyncio.Semaphore(max(1, self.workers - 1))
        return self._views

    async def _call(self, task: Task, payload: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        if self._warming and not self._ready and task is not worker_tasks.ping:
            if self._interim is None:
                self._interim = ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix="carbs-engine-interim")
            return await loop.run_in_executor(self._interim, task, payload)
        for attempt in range(1, ATTEMPTS + 1):
            executor = self._current()
            try:
                future = await loop.run_in_executor(self._submitter, executor.submit, task,
                                                    payload)
                return await asyncio.wrap_future(future)
            except BrokenProcessPool:
                log.warning("a worker process died (attempt %d of %d); the pool is replaced "
                            "and the call run again", attempt, ATTEMPTS)
                self._replace(executor)
                if attempt == ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    def shutdown(self) -> None:
        self._submitter.shutdown(wait=False, cancel_futures=True)
        if self._interim is not None:
            self._interim.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
