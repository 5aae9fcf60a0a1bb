"""A longer grace for the in-thread kopf operator to stop, for the tune and tracking tests.

On a loaded machine (the suite on 2 cores under pytest-xdist) the operator may still be
computing a study's views when a test ends, and take longer than the harness's 10 s to
stop; that says nothing about what these tests check. Import the fixture by name."""

from __future__ import annotations

import pytest

from tests.support.kopf_harness import OperatorThread

STOP_SECONDS = 60.0


@pytest.fixture
def patient_operator_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    original = OperatorThread.stop

    async def stop(self: OperatorThread, timeout: float = 10.0) -> None:
        await original(self, max(timeout, STOP_SECONDS))

    monkeypatch.setattr(OperatorThread, "stop", stop)
