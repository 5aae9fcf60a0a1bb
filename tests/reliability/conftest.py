"""Fixtures for the reliability tests: the API emulator and the simulated kubelet (from
tests/support), and a seeded random generator whose seed is printed."""

from __future__ import annotations

import os
import secrets

import pytest

from tests.reliability.support import SEED_ENV, Seeded
from tests.support.fixtures import cluster, kubelet  # noqa: F401 - fixtures, by name


@pytest.fixture
def seeded(request: pytest.FixtureRequest) -> Seeded:
    """The random moments of a test. The seed is fresh each run unless CARBS_RELIABILITY_SEED
    sets it; it is printed, and the tests name it in their failures, so a run can be replayed.
    """
    seed = int(os.environ.get(SEED_ENV) or secrets.randbelow(2**32))
    print(f"\n{request.node.nodeid}: {SEED_ENV}={seed}")
    return Seeded(seed)
