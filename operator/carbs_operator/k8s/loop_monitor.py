"""How long the operator's event loop was held: a heartbeat that measures its own lateness.

Every `interval` seconds a task asks to be woken and notes how much later than asked it
was. Anything holding the loop (a slow callback, a GIL held by a thread's long C call)
shows up as lateness. Published as `carbs_operator_event_loop_lag_seconds` (a histogram)
and `carbs_operator_event_loop_lag_max_seconds` (the longest since start), so a cluster's
dashboards, and the benchmarks, see the longest stall without asyncio's debug mode.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Gauge, Histogram

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopMonitor:
    def __init__(self, registry: CollectorRegistry, interval: float = 0.05) -> None:
        self.interval = interval
        self.longest = 0.0
        self.lag = Histogram("carbs_operator_event_loop_lag_seconds",
                             "How late the operator's event loop woke a heartbeat task "
                             "(time the loop was held by something else).",
                             buckets=BUCKETS, registry=registry)
        self.lag_max = Gauge("carbs_operator_event_loop_lag_max_seconds",
                             "The longest event-loop lag since the operator started.",
                             registry=registry)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval)
            late = max(0.0, loop.time() - asked - self.interval)
            self.lag.observe(late)
            if late > self.longest:
                self.longest = late
                self.lag_max.set(late)
