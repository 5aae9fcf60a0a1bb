"""The one way a tracker is called: a bounded queue drained by a daemon thread.

A tracker that is down, slow or misconfigured must never fail or slow a trial or the
study. So nothing on the study's path calls a tracker: it `submit()`s a task and goes on.
The policy, per task kind:

- a trial's record (`submit(..., retries=RETRIES)`): retried up to RETRIES more times, after
  RETRY_DELAYS seconds, in this thread only; then dropped, counted and logged.
- the study's refresh (frontier plot, laws, frontier tags): `refresh()` keeps only the
  latest one; it is never retried, the next refresh replaces it.
- a full queue (QUEUE_SIZE tasks waiting, i.e. the tracker has been down for a while):
  the new task is dropped, counted and logged; the study goes on.

Each call inside a task has its backend's own timeout (MLflow's HTTP timeout, W&B's init
timeout; see the sinks). `close()` waits at most `flush_seconds` for the queue to drain,
and only while the tracker makes progress: it stops waiting at once when the last call
failed, or when one call has been in flight for STALL_SECONDS. A study never waits on a
dead tracker; one that hangs just as the study ends costs it STALL_SECONDS at most, once.
What close() leaves queued goes on in the daemon thread while the process lives.
Warnings are rate-limited: the first failure, then every FAILURE_LOG_EVERY-th.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
RETRIES = 2
RETRY_DELAYS = (1.0, 4.0)
FAILURE_LOG_EVERY = 50
STALL_SECONDS = 5.0  # close() stops waiting for a call in flight this long


@dataclass
class _Task:
    what: str
    call: Callable[[], None]
    retries: int


class TrackerWorker:
    """Runs one tracker's tasks in order, off the caller's thread (module docstring)."""

    def __init__(self, name: str, *, queue_size: int = QUEUE_SIZE,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.name = name
        self.retry_delays = retry_delays
        self._queue: queue.Queue[_Task | None] = queue.Queue(maxsize=queue_size)
        self._refresh: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.failures = 0
        self.successes = 0
        self.dropped = 0
        self.healthy = True
        self._call_started: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"carbs-tracker-{name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, what: str, call: Callable[[], None], *, retries: int = RETRIES) -> bool:
        """Queue a task; False (and the task dropped) when the queue is full."""
        try:
            self._queue.put_nowait(_Task(what, call, retries))
            return True
        except queue.Full:
            self._drop(what, "the queue is full")
            return False

    def refresh(self, call: Callable[[], None]) -> None:
        """Replace the pending refresh (latest wins; run after the queued tasks)."""
        with self._lock:
            self._refresh = call
        self.submit("refresh", self._run_refresh, retries=0)

    def close(self, flush_seconds: float = 10.0) -> bool:
        """Stop after the queued tasks; wait at most `flush_seconds` (none when unhealthy).
        True when everything queued was handled."""
        with contextlib.suppress(queue.Full):  # full: the thread is abandoned below
            self._queue.put_nowait(None)
        deadline = time.monotonic() + flush_seconds
        while self._thread.is_alive() and time.monotonic() < deadline:
            started = self._call_started
            if not self.healthy or (started is not None
                                    and time.monotonic() - started > STALL_SECONDS):
                break  # failing, or one call hangs: waiting would only slow the study
            self._thread.join(0.05)
        return not self._thread.is_alive()

    def wait_idle(self, seconds: float) -> bool:
        """Wait until nothing is queued or running (tests, and the study's start)."""
        deadline = time.monotonic() + seconds
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.02)
        return True

    # -- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                self._attempt(task)
            finally:
                self._queue.task_done()

    def _run_refresh(self) -> None:
        with self._lock:
            call, self._refresh = self._refresh, None
        if call is not None:
            call()

    def _attempt(self, task: _Task) -> None:
        for attempt in range(task.retries + 1):
            self._call_started = time.monotonic()
            try:
                task.call()
            except Exception as error:  # any backend error: the policy above, never raised
                self._call_started = None
                self.failures += 1
                self.healthy = False
                if self.failures == 1 or self.failures % FAILURE_LOG_EVERY == 0:
                    log.warning("tracker %s: %s failed (%d failure(s) so far): %r",
                                self.name, task.what, self.failures, error)
                if attempt < task.retries:
                    time.sleep(self.retry_delays[min(attempt, len(self.retry_delays) - 1)])
                    continue
                self._drop(task.what, "it failed" + (
                    f" {task.retries + 1} times" if task.retries else ""))
                return
            else:
                self._call_started = None
                self.healthy = True
                self.successes += 1
                return

    def _drop(self, what: str, why: str) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % FAILURE_LOG_EVERY == 0:
            log.warning("tracker %s: dropped %s because %s (%d dropped so far)",
                        self.name, what, why, self.dropped)
