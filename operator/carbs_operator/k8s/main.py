"""Starting the operator: `carbs operator`, or `operator()` inside a test's event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from typing import Any

import kopf
from kubernetes import client as k8s

from carbs_operator.k8s.api import KubeApi
from carbs_operator.k8s.handlers import (
    OperatorContext,
    default_api_client,
    register,
)
from carbs_operator.k8s.leases import LEASE_SECONDS, LeaseClient, ShardKeeper
from carbs_operator.k8s.peering import PeeringChoice, PeeringError, decide_peering
from carbs_operator.k8s.sharding import ShardReport, lease_namespace
from carbs_operator.k8s.workload_api import DEFAULT_TRIAL_KINDS
from carbs_operator.metrics import StudyMetrics

log = logging.getLogger("carbs_operator")
LOG_FORMATS = ("plain", "json")
#: Threads for the operator's own API calls. They wait on the network, not the CPU, and
#: every study's pass makes its calls one after another: with few threads, hundreds of
#: studies queue behind each other's reads.
API_THREADS = int(os.environ.get("CARBS_API_THREADS", "16"))


async def operator(
    *,
    api_client: k8s.ApiClient,
    namespaces: Sequence[str] = (),
    clusterwide: bool = False,
    standalone: bool = False,
    peering_name: str | None = None,
    priority: int | None = None,
    metrics: StudyMetrics | None = None,
    login: Callable[..., Any] | None = None,
    stop_flag: asyncio.Event | None = None,
    ready_flag: asyncio.Event | None = None,
    liveness_endpoint: str | None = None,
    resync_seconds: float = 10.0,
    device: str = "cpu",
    trial_kinds: frozenset[str] = DEFAULT_TRIAL_KINDS,
    workers: int = 0,
    shards: int = 16,
    lease_seconds: float = LEASE_SECONDS,
) -> None:
    """Run until `stop_flag` is set (or the task is cancelled).

    By default the replicas share the studies by shard Leases (k8s/leases.py): every
    replica works, each on the studies of the shards it holds, and kopf runs without
    peering. `standalone` serves every study with no Leases (one replica only). A
    `peering_name` keeps kopf's active/standby peering instead (PeeringError when its
    object is missing): one replica serves every study, the others wait; each replica takes
    a random priority unless told one, since replicas of equal priority all pause.
    """
    sharded = not standalone and peering_name is None
    if sharded:
        choice = PeeringChoice(True, None, f"sharding: studies split into {shards} shards, "
                               "each held by one replica through a Lease; no kopf peering")
    else:
        choice = await decide_peering(api_client, standalone=standalone,
                                      requested=peering_name, clusterwide=clusterwide,
                                      namespaces=namespaces)
    log.info("%s", choice.message)
    if priority is None:
        priority = secrets.randbelow(1_000_000) + 1
    registry = kopf.OperatorRegistry()
    context = OperatorContext(
        KubeApi(api_client, threads=API_THREADS), metrics=metrics, device=device,
        resync_seconds=resync_seconds, trial_kinds=trial_kinds, workers=workers,
    )
    if sharded:
        report = ShardReport(metrics.registry if metrics is not None else None,
                             context.post_event)
        context.keeper = ShardKeeper(
            LeaseClient(api_client, lease_namespace(namespaces)), shards,
            on_acquire=context.acquired, on_release=context.released, on_change=report,
            lease_seconds=lease_seconds)
        report.keeper = context.keeper
    register(registry, context, login=login)
    await kopf.operator(
        registry=registry,
        namespaces=list(namespaces),
        clusterwide=clusterwide,
        standalone=choice.standalone,
        # kopf makes peering mandatory whenever a peering name is given, and a standalone
        # operator has no peering objects to find: it would stay paused, serving nothing.
        peering_name=choice.name,
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
    peering_name: str | None = None,
    priority: int | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "0.0.0.0",  # noqa: S104 - scraped from outside the pod
    liveness_endpoint: str | None = None,
    device: str = "cpu",
    trial_kinds: frozenset[str] = DEFAULT_TRIAL_KINDS,
    workers: int = 0,
    shards: int = 16,
    lease_seconds: float = LEASE_SECONDS,
    log_format: str = "plain",
    verbose: bool = False,
    quiet: bool = False,
) -> int:
    """The `carbs operator` command: blocks until SIGINT/SIGTERM."""
    from prometheus_client import CollectorRegistry

    from carbs_operator.metrics import serve

    configure_logging(log_format, verbose=verbose, quiet=quiet)
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    server = serve(registry, metrics_port, metrics_host) if metrics_port else None
    try:
        asyncio.run(operator(
            api_client=default_api_client(), namespaces=namespaces, clusterwide=clusterwide,
            standalone=standalone, peering_name=peering_name, priority=priority,
            metrics=metrics, liveness_endpoint=liveness_endpoint,
            device=device, trial_kinds=trial_kinds, workers=workers, shards=shards,
            lease_seconds=lease_seconds,
        ))
    except PeeringError as error:
        log.error("%s", error)
        print(f"carbs operator: error: {error}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.shutdown()
    return 0


def configure_logging(log_format: str = "plain", *, verbose: bool = False,
                      quiet: bool = False) -> None:
    """kopf's logging, at INFO unless told otherwise: `plain` is one line per record with
    time, logger and level (kopf's full format); `json` is one JSON object per line with
    the namespace, study and trial of the operator's decisions as fields."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    chosen = kopf.LogFormat.JSON if log_format == "json" else kopf.LogFormat.FULL
    kopf.configure(verbose=verbose, quiet=quiet, log_format=chosen)
    if not verbose:
        # kopf logs (and posts as Events) "Handler ... succeeded" for every watch event of
        # every trial, Job and Pod: thousands of lines that would drown the decisions. Its
        # warnings and errors stay; --verbose brings everything back.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
