"""Fixtures for the operator's integration tests: the API emulator, the simulated kubelet
(it stands in for the Job controller and kubelet, which cannot run here) and the real kopf
operator with our handlers, in a thread of its own."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import kopf
import pytest

from carbs_operator.k8s.api import KubeApi
from carbs_operator.k8s.handlers import OperatorContext, register
from tests.support.builders import quad_parameters
from tests.support.emulator import Cluster
from tests.support.fixtures import cluster, kubelet  # noqa: F401 - fixtures, by name
from tests.support.kopf_harness import OperatorThread, run_operator

GV = "carbs.dev/v1alpha1"


def objective(params: dict[str, float]) -> dict[str, float]:
    """What a trial reports: loss best at lr=1e-2, x=0.3 and large size; cost = size."""
    loss = (math.log10(params["lr"]) + 2) ** 2 + (params["x"] - 0.3) ** 2 + 1 / params["size"]
    return {"loss": loss, "cost": params["size"]}


def study(name: str = "quad", namespace: str = "default", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "objective": {"metric": "loss", "direction": "minimize"},
        "cost": {"metric": "cost"},
        "parameters": quad_parameters(),
        "budget": {"maxTrials": 6, "maxFailedTrials": 3},
        "parallelism": 2,
        "trialTemplate": {"spec": {"template": {"spec": {"containers": [{
            "name": "trial", "image": "example/quad:1", "command": ["python", "trial.py"],
            "args": ["--lr=${params.lr}", "--x=${params.x}", "--size=${params.size}"],
        }]}}}},
    }
    body.update(spec)
    return {"apiVersion": GV, "kind": "CarbsStudy",
            "metadata": {"name": name, "namespace": namespace}, "spec": body}


@contextlib.asynccontextmanager
async def carbs_operator(
    cluster: Cluster, namespaces: tuple[str, ...] = ("default",), clusterwide: bool = False,
    trial_kinds: frozenset[str] = frozenset({"Job"}), silence_seconds: float = 600.0,
) -> AsyncIterator[OperatorThread]:
    """Our handlers in a fresh kopf registry, running against the emulator (a second's
    resync, progress read every 0.3 s)."""
    registry = kopf.OperatorRegistry()
    context = OperatorContext(KubeApi(cluster.api_client()), resync_seconds=1.0,
                              trial_kinds=trial_kinds, progress_seconds=0.3,
                              silence_seconds=silence_seconds)
    register(registry, context)
    async with run_operator(cluster, registry, namespaces=namespaces,
                            clusterwide=clusterwide) as running:
        yield running


async def get_study(cluster: Cluster, name: str = "quad",
                    namespace: str = "default") -> dict[str, Any]:
    return await cluster.get(GV, "carbsstudies", namespace, name)


async def trials_of(cluster: Cluster, name: str = "quad",
                    namespace: str = "default") -> list[dict[str, Any]]:
    found = await cluster.list(GV, "carbstrials", namespace,
                               label_selector=f"carbs.dev/study={name}")
    return sorted(found, key=lambda t: t["spec"]["index"])


def phase_is(*phases: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: (obj.get("status") or {}).get("phase") in phases


@pytest.fixture
def quad_objective() -> Callable[[dict[str, float]], dict[str, float]]:
    return objective
