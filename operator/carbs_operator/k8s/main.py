"""Starting the operator: `carbs operator`, or `operator()` inside a test's event loop."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import kopf
from kubernetes import client as k8s

from carbs_operator.k8s.api import KubeApi
from carbs_operator.k8s.handlers import OperatorContext, default_api_client, register
from carbs_operator.metrics import StudyMetrics


async def operator(
    *,
    api_client: k8s.ApiClient,
    namespaces: Sequence[str] = (),
    clusterwide: bool = False,
    standalone: bool = True,
    peering_name: str = "carbs-operator",
    priority: int | None = None,
    metrics: StudyMetrics | None = None,
    login: Callable[..., Any] | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
    liveness_endpoint: str | None = None,
    resync_seconds: float = 10.0,
    device: str = "cpu",
) -> None:
    """Run until `stop_flag` is set (or the task is cancelled).

    With peering, replicas of equal priority all pause (kopf's rule), so each replica takes
    a random priority unless told one: the highest works, the others stand by.
    """
    if priority is None:
        priority = secrets.randbelow(1_000_000) + 1
    registry = kopf.OperatorRegistry()
    context = OperatorContext(
        KubeApi(api_client), metrics=metrics, device=device, resync_seconds=resync_seconds
    )
    register(registry, context, login=login)
    await kopf.operator(
        registry=registry,
        namespaces=list(namespaces),
        clusterwide=clusterwide,
        standalone=standalone,
        # kopf makes peering mandatory whenever a peering name is given, and a standalone
        # operator has no peering objects to find: it would stay paused, serving nothing.
        peering_name=None if standalone else peering_name,
        priority=priority,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        liveness_endpoint=liveness_endpoint,
    )


def run_operator(
    namespaces: Sequence[str],
    clusterwide: bool,
    *,
    standalone: bool = False,
    peering_name: str = "carbs-operator",
    priority: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "0.0.0.0",  # noqa: S104 - scraped from outside the pod
    liveness_endpoint: str | None = None,
    device: str = "cpu",
) -> int:
    """The `carbs operator` command: blocks until SIGINT/SIGTERM."""
    from prometheus_client import CollectorRegistry

    from carbs_operator.metrics import serve

    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    server = serve(registry, metrics_port, metrics_host) if metrics_port else None
    try:
        asyncio.run(operator(
            api_client=default_api_client(), namespaces=namespaces, clusterwide=clusterwide,
            standalone=standalone, peering_name=peering_name, priority=priority,
            metrics=metrics, liveness_endpoint=liveness_endpoint,
            device=device,
        ))
    finally:
        if server is not None:
            server.shutdown()
    return 0
