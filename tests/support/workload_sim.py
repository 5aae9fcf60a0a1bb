"""Simulated JobSet and TrainJob controllers (and their kubelet) against the emulator.

Neither controller can run here, so this plays their part for objects labelled
``carbs.dev/study``, as far as the operator can see it:

- a JobSet's pods: for each replicated job, ``replicas`` Jobs of ``parallelism`` pods each
  (the Job's template), labelled ``jobset.sigs.k8s.io/jobset-name``, ``replicatedjob-name``,
  ``job-index`` and ``batch.kubernetes.io/job-completion-index``, plus the template's labels;
- a TrainJob's pods: ``spec.trainer.numNodes`` pods of one container ``node`` (the trainer's
  image, command, args, env; ``resourcesPerNode`` as its resources), labelled as the JobSet
  the trainer controller would make (replicated job ``node``), plus ``spec.labels``;
- each pod goes Pending, then Running, then terminates; rank 0 (the first pod) runs the
  test's objective on the params in its CARBS_PARAMS, exactly as tests/support/kubelet.py
  does (a dict is published as the result, an ``Output`` is its log, a ``Streamed`` is
  printed to its log while it runs, then concludes as its result, an exception fails it);
  the other ranks succeed silently unless the objective returns a ``ReplicaFailure``;
- then the object's status: JobSet ``Completed`` or ``Failed`` (reason ``FailedJobs``),
  TrainJob ``Complete`` or ``Failed`` (reason ``JobSetFailed``).

A suspended object (``spec.suspend``) waits; deleting it ends its simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import yaml

from tests.support.apiserver import utcnow
from tests.support.emulator import ApiError, Cluster
from tests.support.kubelet import (
    RESULT_ANNOTATION,
    Objective,
    Output,
    PhaseDelays,
    Streamed,
    _condition,
    _container,
    _params_of,
    quadratic_objective,
)

CRDS = Path(__file__).parent / "crds"
KINDS = {"JobSet": ("jobset.x-k8s.io/v1alpha2", "jobsets", "Completed", "FailedJobs"),
         "TrainJob": ("trainer.kubeflow.org/v1alpha1", "trainjobs", "Complete", "JobSetFailed")}
STUDY_LABEL = "carbs.dev/study"


@dataclass(frozen=True)
class ReplicaFailure:
    """Returned by an objective: replica `rank` exits 1 with `message`; the others succeed."""

    rank: int
    message: str


async def install_crds(cluster: Cluster, *names: str) -> None:
    """Install the stand-in CRDs (tests/support/crds/<name>.yaml), as `kubectl apply` would."""
    for name in names:
        await cluster.create(yaml.safe_load((CRDS / f"{name}.yaml").read_text()))


@dataclass
class _Pod:
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]


def _jobset_pods(obj: Mapping[str, Any]) -> list[_Pod]:
    name, pods = obj["metadata"]["name"], []
    for replicated in obj["spec"].get("replicatedJobs") or []:
        job_spec = replicated["template"]["spec"]
        template = job_spec["template"]
        for job_index in range(int(replicated.get("replicas", 1))):
            for completion in range(int(job_spec.get("parallelism", 1))):
                labels = {**(template.get("metadata") or {}).get("labels", {}),
                          "jobset.sigs.k8s.io/jobset-name": name,
                          "jobset.sigs.k8s.io/replicatedjob-name": replicated["name"],
                          "jobset.sigs.k8s.io/job-index": str(job_index),
                          "batch.kubernetes.io/job-completion-index": str(completion)}
                pods.append(_Pod(f"{name}-{replicated['name']}-{job_index}-{completion}",
                                 labels, json.loads(json.dumps(template.get("spec") or {}))))
    return pods


def _trainjob_pods(obj: Mapping[str, Any]) -> list[_Pod]:
    name, trainer = obj["metadata"]["name"], obj["spec"].get("trainer") or {}
    container = {"name": "node", "image": trainer.get("image", "runtime-default"),
                 **{k: trainer[k] for k in ("command", "args", "env") if k in trainer}}
    if "resourcesPerNode" in trainer:
        container["resources"] = trainer["resourcesPerNode"]
    return [_Pod(f"{name}-node-0-{rank}",
                 {**(obj["spec"].get("labels") or {}),
                  "jobset.sigs.k8s.io/jobset-name": name,
                  "jobset.sigs.k8s.io/replicatedjob-name": "node",
                  "jobset.sigs.k8s.io/job-index": "0",
                  "batch.kubernetes.io/job-completion-index": str(rank)},
                 {"containers": [json.loads(json.dumps(container))]})
            for rank in range(int(trainer.get("numNodes", 1)))]


class SimulatedWorkloads:
    """The JobSet + TrainJob stand-in (module docstring); an async context manager."""

    def __init__(self, cluster: Cluster, objective: Objective = quadratic_objective, *,
                 delays: PhaseDelays | None = None) -> None:
        self.cluster = cluster
        self.objective = objective
        self.delays = delays or PhaseDelays()
        self.errors: list[Exception] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._watchers: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        self._watchers = [asyncio.create_task(self._watch(kind)) for kind in KINDS]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        tasks = [*self._watchers, *self._tasks.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.errors:
            raise ExceptionGroup("the simulated workload controllers failed", self.errors)

    async def _watch(self, kind: str) -> None:
        group_version, plural = KINDS[kind][0], KINDS[kind][1]
        while True:
            try:
                listing = await self.cluster.request(
                    "GET", f"/apis/{group_version}/{plural}", params={"labelSelector": STUDY_LABEL})
                for obj in listing["items"]:
                    self._pick_up(kind, obj)
                async for event in self.cluster.watch(
                        group_version, plural, None, label_selector=STUDY_LABEL,
                        resource_version=listing["metadata"]["resourceVersion"]):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._pick_up(kind, event["object"])
                    elif event["type"] == "ERROR":
                        break
            except (ApiError, aiohttp.ClientError, ValueError):
                pass  # the CRD is not installed (yet), or the watch ended: start over
            await asyncio.sleep(0.1)

    def _pick_up(self, kind: str, obj: Mapping[str, Any]) -> None:
        meta, spec = obj["metadata"], obj.get("spec") or {}
        done = any(c.get("status") == "True" and c.get("type") in (KINDS[kind][2], "Failed")
                   for c in (obj.get("status") or {}).get("conditions") or [])
        if meta["uid"] in self._tasks or done or spec.get("suspend") or \
                meta.get("deletionTimestamp"):
            return
        self._tasks[meta["uid"]] = asyncio.create_task(self._guarded(kind, obj))

    async def _guarded(self, kind: str, obj: Mapping[str, Any]) -> None:
        try:
            await self._run(kind, obj)
        except ApiError as exc:
            if exc.status != 404:  # 404: deleted meanwhile, the simulation ends
                self.errors.append(exc)
        except Exception as exc:
            self.errors.append(exc)

    async def _run(self, kind: str, obj: Mapping[str, Any]) -> None:
        group_version, plural, done_type, failed_reason = KINDS[kind]
        meta = obj["metadata"]
        pods = _jobset_pods(obj) if kind == "JobSet" else _trainjob_pods(obj)
        params = _params_of(pods[0].spec)
        result: Any = params if isinstance(params, BaseException) else self.objective(params)
        if asyncio.iscoroutine(result):
            result = await result
        outcomes = await asyncio.gather(*(
            self._run_pod(obj, pod, result if rank == 0 else None, rank, result)
            for rank, pod in enumerate(pods)))
        now = utcnow()
        if all(outcomes):
            condition = _condition(done_type, "AllJobsCompleted", "the workload completed", now)
        else:
            condition = _condition("Failed", failed_reason, "a replica failed", now)
        await self.cluster.patch(group_version, plural, meta["namespace"], meta["name"],
                                 {"status": {"conditions": [condition]}}, subresource="status")

    async def _run_pod(self, owner: Mapping[str, Any], pod: _Pod, result: Any, rank: int,
                       rank0: Any) -> bool:
        meta = owner["metadata"]
        namespace = meta["namespace"]
        pod.spec.setdefault("nodeName", "simulated-node")
        await self.cluster.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod.name, "namespace": namespace, "labels": pod.labels,
                         "ownerReferences": [{"apiVersion": owner["apiVersion"],
                                              "kind": owner["kind"], "name": meta["name"],
                                              "uid": meta["uid"], "controller": True}]},
            "spec": pod.spec})
        containers = [c.get("name", "main") for c in pod.spec.get("containers") or []]
        await asyncio.sleep(self.delays.pending)
        started = utcnow()
        await self._status(namespace, pod.name, {
            "phase": "Running", "startTime": started,
            "containerStatuses": [_container(c, {"running": {"startedAt": started}})
                                  for c in containers]})
        for container in containers:
            self.cluster.emulator.pod_logs.write(namespace, pod.name, container, "")
        await asyncio.sleep(self.delays.running)
        if isinstance(result, Streamed):  # printed while it runs; a deletion ends it
            for seconds, text in result.chunks:
                await asyncio.sleep(seconds)
                await self.cluster.get("v1", "pods", namespace, pod.name)  # 404: deleted
                self.cluster.emulator.pod_logs.append(namespace, pod.name, containers[0], text)
            result = result.result
            rank0 = result
        exit_code, message = 0, ""
        if isinstance(rank0, ReplicaFailure):
            if rank0.rank == rank:
                exit_code, message = 1, rank0.message
        elif isinstance(result, BaseException):
            exit_code, message = 1, str(result)
        elif isinstance(result, Output):
            self.cluster.emulator.pod_logs.append(namespace, pod.name, containers[0], result.text)
            exit_code = result.exit_code
        elif result is not None:
            message = result if isinstance(result, str) else json.dumps(result)
            await self.cluster.patch("v1", "pods", namespace, pod.name,
                                     {"metadata": {"annotations": {RESULT_ANNOTATION: message}}})
        finished = utcnow()
        await self._status(namespace, pod.name, {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [_container(c, {"terminated": {
                "exitCode": exit_code if i == 0 else 0,
                "reason": "Completed" if exit_code == 0 or i else "Error",
                "message": message if i == 0 else "", "startedAt": started,
                "finishedAt": finished}}, ready=False) for i, c in enumerate(containers)]})
        return exit_code == 0

    async def _status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self.cluster.patch("v1", "pods", namespace, name, {"status": status},
                                 subresource="status")
