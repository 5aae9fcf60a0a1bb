"""API faults: the emulator answers a share of the operator's requests with 409, 429, 500 or
503, delays them, or cuts its watch streams; studies still finish with exact counts.

The faults hit the operator only (kopf's own requests and the reconciler's); the test's
helpers and the simulated kubelet are exempt. Injected errors are answered before the
request is served, so nothing is written by a failed request, as with a real API server
that refuses one. Each mix runs two studies side by side to completion and checks the
invariants of tests/reliability/support.py (exact trial counts, each Job run once, status
counts = trial phases, replay = finished trials).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp.web
import pytest

from tests.k8s.conftest import carbs_operator, objective, study
from tests.reliability.support import Seeded, all_in_phase, check_k8s_study, print_figures
from tests.support.apiserver import ApiError, Emulator, Faults
from tests.support.emulator import EXEMPT_HEADER, Cluster
from tests.support.kubelet import SimulatedKubelet

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# (Faults settings, share of the operator's writes whose answer is lost after they were
# committed: the server wrote the object, the client sees a 504 and must not write it twice)
MIXES: dict[str, tuple[dict[str, Any], float]] = {
    # A 409 where none should come (a create of a new name, a status merge patch).
    "409 on 25% of writes": ({"error_rate": 0.25, "error_codes": (409,), "methods": WRITES}, 0),
    "429/503 on 15% of requests": ({"error_rate": 0.15, "error_codes": (429, 503)}, 0),
    "500 on 15% of requests": ({"error_rate": 0.15, "error_codes": (500,)}, 0),
    # 409 appears on writes only (above): an API server never answers a read or a watch
    # with a conflict, and kopf rightly treats one there as fatal.
    "429/500/503 on 10%, answers slowed by up to 150 ms": ({
        "error_rate": 0.1, "error_codes": (429, 500, 503), "latency": 0.15}, 0),
    "30% of watch streams cut after an event, 5% errors": ({
        "watch_drop_rate": 0.3, "error_rate": 0.05, "error_codes": (429, 500, 503)}, 0),
    "answer lost after the write (504) on 20% of writes": ({}, 0.2),
}
NAMES = ("alpha", "beta")


@dataclass
class CountingFaults(Faults):
    """Faults that count what they injected, for the figures."""

    injected: Counter[str] = field(default_factory=Counter)

    async def before(self, method: str, path: str) -> None:
        try:
            await super().before(method, path)
        except ApiError as error:
            self.injected[str(error.code)] += 1
            raise

    def drop_watch(self) -> bool:
        dropped = super().drop_watch()
        self.injected["watch cut"] += dropped
        return dropped


MAX_TRIALS = 5


def lose_answers(monkeypatch: pytest.MonkeyPatch, faults: CountingFaults, rate: float) -> None:
    """Serve the operator's writes, then answer a share of them 504 as if the answer were lost
    on the way back (the emulator class is slotted, so its method is patched for the test)."""
    serve = Emulator._serve

    async def serve_then_lose(self: Emulator, raw: aiohttp.web.BaseRequest, path: str,
                              route: Any, data: Any) -> aiohttp.web.StreamResponse:
        response = await serve(self, raw, path, route, data)
        if raw.method in WRITES and EXEMPT_HEADER not in raw.headers and \
                faults.rng.random() < rate:
            faults.injected["504 after the write"] += 1
            raise ApiError(504, "Timeout", "injected: written, but the answer was lost")
        return response

    monkeypatch.setattr(Emulator, "_serve", serve_then_lose)


@pytest.mark.parametrize("mix", list(MIXES))
async def test_studies_finish_exactly_under_api_faults(
    cluster: Cluster, kubelet: SimulatedKubelet, seeded: Seeded, mix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kubelet.objective = objective
    for name in NAMES:
        await cluster.create(study(name, budget={"maxTrials": MAX_TRIALS, "maxFailedTrials": 1}))
    settings, lost_rate = MIXES[mix]
    faults = CountingFaults(seed=seeded.seed, **settings)
    if lost_rate:
        lose_answers(monkeypatch, faults, lost_rate)
    cluster.emulator.faults = faults
    began = time.monotonic()
    async with carbs_operator(cluster):
        try:
            await cluster.wait_for(lambda: all_in_phase(cluster, NAMES, frozenset({"Succeeded"})),
                                   60, what=f"both studies Succeeded under {mix}")
        finally:
            cluster.emulator.faults = Faults()
            monkeypatch.undo()
    seconds = time.monotonic() - began
    totals = [await check_k8s_study(cluster, kubelet, name, context=f"{mix}, {seeded}")
              for name in NAMES]
    print_figures(f"API faults: {mix}", {
        "seed": seeded.seed, "studies": len(NAMES), "trials": sum(t.trials for t in totals),
        "seconds": round(seconds, 1), "injected": dict(faults.injected),
    })
