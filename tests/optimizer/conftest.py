"""Shared fixtures: small, fast engine settings.

The engine runs on the CPU here. CARBS_TEST_DEVICE=cuda runs the same suite on a GPU (done
on a lent device machine; never required).
"""

from __future__ import annotations

import math
import os

import pytest

from carbs_optimizer import CARBS, CARBSParams, LinearSpace, LogitSpace, LogSpace, Param


def fast_config(**overrides: object) -> CARBSParams:
    settings: dict[str, object] = {
        "device": os.environ.get("CARBS_TEST_DEVICE", "cpu"),
        "num_candidates_for_suggestion_per_dim": 30,
        "gp_fit_iterations": 15,
        "gp_warm_start_iterations": 5,
    }
    settings.update(overrides)
    return CARBSParams(**settings)  # type: ignore[arg-type]


@pytest.fixture
def params() -> list[Param]:
    """The reference test suite's three spaces, plus an integer one."""
    return [
        Param("p1", LogSpace(scale=1), 1e-2),
        Param("p2", LinearSpace(scale=2), 0),
        Param("p3", LogitSpace(scale=0.5), 0.5),
        Param("width", LogSpace(min=8, max=512, is_integer=True, rounding_factor=8), 64),
    ]


@pytest.fixture
def carbs_instance(params: list[Param]) -> CARBS:
    return CARBS(fast_config(), params)


def toy_objective(suggestion: dict[str, float]) -> tuple[float, float]:
    """(output to maximise, cost): better with width, best at p1=1e-2, p2=0, p3=0.3."""
    width = float(suggestion["width"])
    output = (
        -((math.log10(suggestion["p1"]) + 2) ** 2)
        - suggestion["p2"] ** 2 / 10
        - (suggestion["p3"] - 0.3) ** 2
        - 10 / math.sqrt(width)
    )
    return output, width
