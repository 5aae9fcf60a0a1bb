"""The tracker queue's failure policy (worker.py), without any tracker: what is retried,
what is dropped, and that close() never waits on a failing or hanging tracker."""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest

from carbs_operator.tracking import worker as worker_module
from carbs_operator.tracking.worker import TrackerWorker


def test_a_failing_task_is_retried_then_dropped() -> None:
    worker = TrackerWorker("t", retry_delays=(0.01,))
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise ConnectionError("down")

    worker.submit("trial", failing, retries=2)
    assert worker.wait_idle(5)
    assert len(calls) == 3
    assert (worker.failures, worker.dropped, worker.healthy) == (3, 1, False)
    began = time.monotonic()
    worker.close(10.0)
    assert time.monotonic() - began < 0.5  # unhealthy: no flush wait


def test_a_full_queue_drops_new_tasks_without_blocking() -> None:
    gate = threading.Event()
    worker = TrackerWorker("t", queue_size=2)
    assert worker.submit("blocker", lambda: _wait(gate))
    time.sleep(0.1)  # the blocker is running; the queue itself is empty
    assert worker.submit("a", lambda: None)
    assert worker.submit("b", lambda: None)
    began = time.monotonic()
    assert not worker.submit("c", lambda: None)
    assert time.monotonic() - began < 0.1
    assert worker.dropped == 1
    gate.set()
    assert worker.wait_idle(5)
    worker.close(1.0)


def test_only_the_latest_refresh_runs() -> None:
    gate = threading.Event()
    worker = TrackerWorker("t")
    seen: list[str] = []
    worker.submit("blocker", lambda: _wait(gate))
    for name in ("first", "second", "third"):
        worker.refresh(partial(seen.append, name))
    gate.set()
    assert worker.wait_idle(5)
    assert seen == ["third"]
    worker.close(1.0)


def test_close_stops_waiting_for_a_hanging_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker_module, "STALL_SECONDS", 0.3)
    worker = TrackerWorker("t")
    worker.submit("hangs", lambda: time.sleep(30), retries=0)
    time.sleep(0.5)
    began = time.monotonic()
    worker.close(10.0)
    assert time.monotonic() - began < 1.0


def _wait(gate: threading.Event) -> None:
    gate.wait(5)
