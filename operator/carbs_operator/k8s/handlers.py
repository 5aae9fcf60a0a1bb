"""The kopf side: thin handlers that keep one StudyReconciler per CarbsStudy.

Only event handlers are used (`kopf.on.event`): no kopf finalizers, no kopf annotations on
the user's objects. Deleting a study therefore never hangs on a stopped operator; its
trials and Jobs go by owner references (Kubernetes' garbage collector). Events on trials,
Jobs and Pods go into their study's cache (study_objects.py) and wake its reconciler.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import kopf
from kubernetes import client as k8s

from carbs_operator.k8s.api import REQUEST_TIMEOUT_SECONDS, TRIALS, KubeApi, Resource
from carbs_operator.k8s.leases import ShardKeeper
from carbs_operator.k8s.loop_monitor import LoopMonitor
from carbs_operator.k8s.reconciler import PROGRESS_SECONDS, StudyReconciler
from carbs_operator.k8s.sharding import study_shard
from carbs_operator.k8s.study_objects import PODS
from carbs_operator.k8s.workers import WorkerPool
from carbs_operator.k8s.workload_api import DEFAULT_TRIAL_KINDS
from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import GROUP, VERSION
from carbs_operator.template import LABEL_STUDY
from carbs_operator.trial_progress import SILENCE_SECONDS
from carbs_operator.workloads import KINDS

log = logging.getLogger(__name__)
REPORTING_COMPONENT = "carbs-operator"
#: A study given up with its shard may finish its pass for this long before it is cancelled.
STOP_GRACE_SECONDS = 5.0
Key = tuple[str, str]  # (namespace, study name)


@dataclass
class OperatorContext:
    """What the handlers share: clients, the worker pool, the reconcilers."""

    api: KubeApi
    metrics: StudyMetrics | None = None
    device: str = "cpu"
    workers: int = 0  # worker processes; 0: one per CPU the pod may use
    resync_seconds: float = 10.0
    trial_kinds: frozenset[str] = DEFAULT_TRIAL_KINDS  # workload kinds it may create
    progress_seconds: float = PROGRESS_SECONDS  # spec.earlyStopping: log reads per trial
    silence_seconds: float = SILENCE_SECONDS  # ... and when missing progress is late
    reconcilers: dict[Key, tuple[StudyReconciler, asyncio.Task[None]]] = field(
        default_factory=dict
    )
    # Sharding (k8s/leases.py): None serves every study (standalone, or kopf peering).
    keeper: ShardKeeper | None = None
    studies: dict[Key, dict[str, Any]] = field(default_factory=dict)  # every study seen
    keeper_task: asyncio.Task[None] | None = None
    monitor_task: asyncio.Task[None] | None = None
    warm_task: asyncio.Task[None] | None = None
    # kopf's context as a handler sees it: its Event poster lives in context variables that
    # kopf sets for handlers only, and studies started by the shard keeper post Events too.
    kopf_context: contextvars.Context | None = None

    def __post_init__(self) -> None:
        # Suggestions and derived views are CPU-heavy: worker processes bound them, off
        # the event loop and off its GIL (k8s/workers.py).
        self.engine_pool = WorkerPool(self.workers)

    def observe(self, resource: Resource, namespace: str | None, study: str | None,
                event: Mapping[str, Any]) -> None:
        """A watch event of one of a study's trials, workloads or pods: into the study's
        cache (study_objects.py), and the study woken to act on it. Events of studies
        another replica serves are dropped: their reconciler lists what it needs when it
        starts."""
        entry = self.reconcilers.get((namespace or "", study or ""))
        if entry is not None:
            entry[0].objects.observe(resource, event)
            entry[0].wake.set()

    def owns(self, body: dict[str, Any]) -> bool:
        """Whether this replica reconciles the study: it holds the study's shard."""
        return self.keeper is None or study_shard(body, self.keeper.shards) in self.keeper.held

    def start(self, key: Key, body: dict[str, Any]) -> None:
        reconciler = StudyReconciler(
            self.api, self.engine_pool, body, post_event=post_event,
            metrics=self.metrics, device=self.device,
            resync_seconds=self.resync_seconds, trial_kinds=self.trial_kinds,
            progress_seconds=self.progress_seconds, silence_seconds=self.silence_seconds,
        )
        task = asyncio.create_task(reconciler.run(), name=f"carbs-study-{key[0]}-{key[1]}",
                                   context=self.kopf_context.copy() if self.kopf_context
                                   else None)
        self.reconcilers[key] = (reconciler, task)

    def post_event(self, body: Mapping[str, Any], type_: str, reason: str,
                   message: str) -> None:
        """`post_event` from outside kopf's handlers (the shard keeper), in kopf's context
        once a handler has shown it; before that, not at all (the log still says it)."""
        if self.kopf_context is not None:
            self.kopf_context.copy().run(post_event, body, type_, reason, message)

    def acquired(self, shard: int) -> None:
        """A shard became ours: start its known studies."""
        assert self.keeper is not None
        for key, body in list(self.studies.items()):
            if key not in self.reconcilers and study_shard(body, self.keeper.shards) == shard:
                self.start(key, body)

    async def released(self, shard: int) -> None:
        """A shard is no longer ours: stop its studies and wait until none is mid-pass
        (a pass still running after this returns could race the next holder)."""
        assert self.keeper is not None
        keys = [key for key, (r, _) in self.reconcilers.items()
                if study_shard(r.body, self.keeper.shards) == shard]
        await self._stop(keys)

    async def _stop(self, keys: list[Key]) -> None:
        entries = [self.reconcilers.pop(key) for key in keys if key in self.reconcilers]
        for reconciler, _ in entries:
            reconciler.stop()
            reconciler.stop_views()
        tasks = [task for _, task in entries]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.metrics is not None:
            for key in keys:
                self.metrics.remove_study(*key)

    async def shutdown(self) -> None:
        if self.monitor_task is not None:
            self.monitor_task.cancel()
        if self.keeper_task is not None:
            self.keeper_task.cancel()
            await asyncio.gather(self.keeper_task, return_exceptions=True)
        if self.keeper is not None:
            await self.keeper.release_all()
        for reconciler, task in self.reconcilers.values():
            reconciler.stop()
            reconciler.stop_views()
            task.cancel()
        await asyncio.gather(*(t for _, t in self.reconcilers.values()), return_exceptions=True)
        self.reconcilers.clear()
        self.engine_pool.shutdown()
        self.api.close()


def post_event(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    """Kubernetes Events through kopf's own poster (queued; never blocks a handler)."""
    raw = cast(kopf.RawBody, dict(body))
    kopf.event(kopf.Body(raw), type=type_, reason=reason, message=message[:1000])


def register(
    registry: kopf.OperatorRegistry,
    context: OperatorContext,
    login: Callable[..., Any] | None = None,
) -> None:
    """Add the operator's handlers to `registry` (a fresh one per operator run).

    A fresh registry has none of kopf's fallback logins, so without `login` the two that
    need no extra library are registered: the pod's service account, then the kubeconfig.
    """
    if login is not None:
        kopf.on.login(registry=registry)(login)
    else:
        kopf.on.login(registry=registry, id="service-account")(kopf.login_with_service_account)
        kopf.on.login(registry=registry, id="kubeconfig")(kopf.login_with_kubeconfig)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.INFO
        # Events name the operator, not the framework (`kubectl get events` FROM column).
        settings.posting.reporting_component = REPORTING_COMPONENT
        settings.posting.reporting_instance = os.environ.get("POD_ID") or socket.gethostname()
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = REQUEST_TIMEOUT_SECONDS
        if context.warm_task is None:
            context.warm_task = asyncio.create_task(context.engine_pool.warm(),
                                                    name="carbs-workers-warm")
        if context.metrics is not None and context.monitor_task is None:
            monitor = LoopMonitor(context.metrics.registry)
            context.monitor_task = asyncio.create_task(monitor.run(), name="carbs-loop-lag")
        if context.keeper is not None and context.keeper_task is None:
            context.keeper_task = asyncio.create_task(context.keeper.run(),
                                                      name="carbs-shard-leases")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await context.shutdown()

    @kopf.on.event(GROUP, VERSION, "carbsstudies", registry=registry)
    async def study_event(event: Mapping[str, Any], body: kopf.Body, **_: Any) -> None:
        meta = body.get("metadata", {})
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if event.get("type") == "DELETED":
            context.studies.pop(key, None)
            entry = context.reconcilers.pop(key, None)
            if entry is not None:
                entry[0].stop()
                entry[0].stop_views()
            if context.metrics is not None:
                context.metrics.remove_study(*key)
            return
        if context.kopf_context is None:
            context.kopf_context = contextvars.copy_context()
        obj = copy.deepcopy(dict(body))
        context.studies[key] = obj
        entry = context.reconcilers.get(key)
        if entry is not None:
            entry[0].update(obj)
        elif context.owns(obj):
            context.start(key, obj)

    def observer(resource: Resource) -> Callable[..., Any]:
        # async: kopf runs a plain function in a thread, and an asyncio.Event set from a
        # thread neither is thread-safe nor wakes the loop (the study then waited for
        # something else to wake the loop, or for its resync).
        async def observe(event: Mapping[str, Any], labels: Mapping[str, str],
                          namespace: str | None, **_: Any) -> None:
            context.observe(resource, namespace, labels.get(LABEL_STUDY), event)

        return observe

    present = {LABEL_STUDY: kopf.PRESENT}
    kopf.on.event(GROUP, VERSION, "carbstrials", labels=present, registry=registry,
                  id="carbstrials")(observer(TRIALS))
    # The workload kinds the operator may create, and only those (its RBAC has no others;
    # a TrainJob's pods do not carry the study label, so its own events are the prompt
    # ones). One whose CRD is missing is only logged by kopf as unresolved; its studies are
    # Invalid until it is installed.
    for kind in sorted(context.trial_kinds):
        row = KINDS.get(kind)
        if row is not None:
            kopf.on.event(row.group, row.version, row.plural, labels=present,
                          registry=registry, id=row.plural)(
                observer(Resource(row.group, row.version, row.plural)))
    kopf.on.event("", "v1", "pods", labels=present, registry=registry, id="pods")(
        observer(PODS))


def default_api_client() -> k8s.ApiClient:
    """In a pod: the service account; elsewhere: the kubeconfig (kube_client's one rule)."""
    from carbs_operator.kube_client import kube_api_client

    client: k8s.ApiClient = kube_api_client()
    return client
