"""A simulated Job controller and kubelet for carbs trial Jobs, running against the emulator.

It stands in for what cannot run here: there is no kube-controller-manager (whose Job controller
creates a Job's Pods and keeps the Job's ``.status``) and no kubelet (which runs a Pod's
containers, moves the Pod through its phases and records each container's exit code and
termination message). Tests of the operator need both to see a trial go from Job to result.

For each Job labelled ``carbs.dev/study`` (any namespace, unless told otherwise) it:

1. sets the Job's ``status.startTime`` and ``active``, and creates a Pod from the Job's template
   (``generateName: <job>-``, labels incl. ``job-name`` / ``batch.kubernetes.io/job-name`` and
   ``controller-uid``, an ownerReference to the Job with its uid, env copied as written);
2. keeps the Pod Pending, then Running (container state ``running``), for ``PhaseDelays``;
3. computes the trial's result with the test's ``objective(params)``, params being the JSON of
   the Pod's ``CARBS_PARAMS`` env var, as the trial's own ``carbs_operator.report()`` would
   publish it:

   - a dict: Pod annotation ``carbs.dev/result`` = its JSON, termination message = the same
     JSON, exit code 0 (Succeeded);
   - a str: written as-is to both (a malformed payload), exit code 0;
   - None: no result at all, exit code 0;
   - an Exception (returned or raised): exit code 1, reason Error, termination message = its
     message (Failed). A missing CARBS_PARAMS fails the Pod the same way;
   - an ``Output``: its text is the first container's log (``GET .../pods/NAME/log``), its
     exit code the container's, and nothing is published;
   - a ``Streamed``: output printed while the container runs, chunk by chunk after each
     chunk's delay (a training loop printing progress), then its own ``result`` as above.
     Deleting the Pod (or its Job) mid-stream ends the container there, as the SIGTERM of a
     graceful deletion would.

   With ``execute_in`` set, the objective is not used: the first container's command and args
   run for real (``python`` meaning this interpreter; no shell) in that directory, with the
   container's literal env values; their output goes to the container's log as it is
   printed, and their exit code is the container's. Deleting the Pod (or its Job) while the
   process runs sends it SIGTERM, then SIGKILL after the Pod's
   ``terminationGracePeriodSeconds`` (at most ``MAX_GRACE_SECONDS`` here), as the kubelet
   does on a graceful deletion; the Job is then recorded in ``interrupted``.

   An async objective is awaited (and cut at the Job's ``activeDeadlineSeconds``);
4. retries failed Pods up to ``backoffLimit`` (default 6, as Kubernetes) and ends the Job with
   ``succeeded``/``failed``, ``completionTime`` and the conditions a 1.31+ Job controller writes
   (``SuccessCriteriaMet`` + ``Complete``, or ``FailureTarget`` + ``Failed`` with reason
   ``BackoffLimitExceeded`` / ``DeadlineExceeded``).

Deleting a Job stops its simulation (the next write or, while output streams, the next
check of its Pod answers 404; the Job is recorded in ``interrupted``); its Pods go by the emulator's
garbage collection when deleted with propagationPolicy Background, and stay (orphaned, frozen)
otherwise, as on a real cluster. Suspended Jobs (``spec.suspend``) wait until resumed (Kueue's
admission); a Job suspended while it runs (Kueue's preemption) loses its Pods, gets the
``Suspended`` condition and no ``startTime``, and runs anew once resumed. ``pause()`` freezes
every simulated Pod between phases until ``resume()``. Its own requests are exempt from fault
injection: the faults under test are the operator's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp

from tests.support.apiserver import utcnow
from tests.support.emulator import ApiError, Cluster


@dataclass(frozen=True)
class Output:
    """What the trial's first container printed (its log) and its exit code; no result is
    published (a training script that prints and never imports the SDK)."""

    text: str
    exit_code: int = 0


@dataclass(frozen=True)
class Streamed:
    """Output the trial's first container prints while it runs: for each (seconds, text)
    chunk, wait, then append the text to its log; then conclude with `result`."""

    chunks: Sequence[tuple[float, str]]
    result: Result = None


Result = dict[str, float] | str | BaseException | Output | Streamed | None
Objective = Callable[[dict[str, float]], Result | Awaitable[Result]]

STUDY_LABEL = "carbs.dev/study"
RESULT_ANNOTATION = "carbs.dev/result"
PARAMS_ENV = "CARBS_PARAMS"
TERMINATION_MESSAGE_LIMIT = 4096  # bytes, as the kubelet truncates
MAX_GRACE_SECONDS = 5.0  # a real process's grace period, cut short for tests


def quadratic_objective(params: dict[str, float]) -> Result:
    """A default objective: ``loss`` = sum of squared params, ``cost`` = 1."""
    return {"loss": sum(float(value) ** 2 for value in params.values()), "cost": 1.0}


@dataclass
class PhaseDelays:
    """Seconds each simulated phase lasts."""

    pending: float = 0.05  # the Pod exists and is Pending
    running: float = 0.05  # the Pod is Running, before its container terminates
    finishing: float = 0.05  # the Pod has terminated, before the Job's status says so


class _Deadline:
    """The Job's activeDeadlineSeconds passed before the trial ended (a sentinel)."""


@dataclass
class _Outcome:
    succeeded: bool
    reason: str = ""


class SimulatedKubelet:
    """The Job controller + kubelet stand-in (see the module docstring); async context manager."""

    def __init__(self, cluster: Cluster, objective: Objective = quadratic_objective, *,
                 delays: PhaseDelays | None = None, namespace: str | None = None,
                 label_selector: str = STUDY_LABEL, execute_in: Path | None = None) -> None:
        self.cluster = cluster
        self.execute_in = execute_in
        self.objective = objective
        self.delays = delays or PhaseDelays()
        self.namespace = namespace
        self.label_selector = label_selector
        self.errors: list[Exception] = []
        self.started_jobs: list[str] = []  # "namespace/name", in the order they were picked up
        self.interrupted: list[str] = []  # "namespace/name" of Jobs deleted before they ended
        self.preempted: set[str] = set()  # uids of Jobs suspended while they ran
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._main: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    def start(self) -> None:
        if self._main is None:
            self._main = asyncio.create_task(self._watch_jobs(), name="simulated-kubelet")

    async def stop(self) -> None:
        """Stop every simulation; raise what went wrong inside (bugs, not API answers)."""
        tasks = [task for task in [self._main, *self._jobs.values()] if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._main = None
        if self.errors:
            raise ExceptionGroup("the simulated kubelet failed", self.errors)

    def pause(self) -> None:
        """Freeze all simulated Pods at their next phase boundary."""
        self._resumed.clear()

    def resume(self) -> None:
        self._resumed.set()

    @property
    def paused(self) -> bool:
        return not self._resumed.is_set()

    # ------------------------------------------------------------------------ the Job loop

    async def _watch_jobs(self) -> None:
        """List, then watch from the list's version; on any end of the stream, start over."""
        path = "/apis/batch/v1/jobs" if self.namespace is None else \
            f"/apis/batch/v1/namespaces/{self.namespace}/jobs"
        while True:
            try:
                listing = await self.cluster.request(
                    "GET", path, params={"labelSelector": self.label_selector})
                for job in listing["items"]:
                    self._pick_up(job)
                async for event in self.cluster.watch(
                        "batch/v1", "jobs", self.namespace, label_selector=self.label_selector,
                        resource_version=listing["metadata"]["resourceVersion"]):
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._pick_up(event["object"])
                    elif event["type"] == "ERROR":
                        break
            except (ApiError, aiohttp.ClientError, ValueError):
                pass
            await asyncio.sleep(0.05)

    def _pick_up(self, job: Mapping[str, Any]) -> None:
        meta, spec, status = job["metadata"], job.get("spec") or {}, job.get("status") or {}
        finished = any(condition.get("type") in ("Complete", "Failed")
                       and condition.get("status") == "True"
                       for condition in status.get("conditions") or [])
        running = self._jobs.get(meta["uid"])
        if running is not None and spec.get("suspend") and not finished and \
                meta["uid"] not in self.preempted:
            # Suspended after it started (Kueue preempting it): the Job controller deletes
            # its active pods and marks it Suspended; it runs anew once resumed.
            running.cancel()
            self.preempted.add(meta["uid"])
            self._jobs[meta["uid"]] = asyncio.create_task(self._guarded_suspend(job))
            return
        if running is not None and not spec.get("suspend") and meta["uid"] in self.preempted:
            self.preempted.discard(meta["uid"])
            running = None  # resumed: run it again
        if running is not None or finished or spec.get("suspend") or \
                meta.get("deletionTimestamp"):
            return
        self.started_jobs.append(f"{meta['namespace']}/{meta['name']}")
        self._jobs[meta["uid"]] = asyncio.create_task(self._guarded(job),
                                                      name=f"job {meta['name']}")

    async def _guarded(self, job: Mapping[str, Any]) -> None:
        try:
            await self._run_job(job)
        except ApiError as exc:
            if exc.status != 404:  # 404: the Job or its Pod was deleted, the simulation ends
                self.errors.append(exc)
            else:
                self.interrupted.append(f"{job['metadata']['namespace']}/"
                                        f"{job['metadata']['name']}")
        except Exception as exc:
            self.errors.append(exc)

    async def _guarded_suspend(self, job: Mapping[str, Any]) -> None:
        meta = job["metadata"]
        try:
            pods = await self.cluster.list("v1", "pods", meta["namespace"],
                                           label_selector=f"job-name={meta['name']}")
            for pod in pods:
                await self.cluster.delete("v1", "pods", meta["namespace"],
                                          pod["metadata"]["name"])
            await self._job_status(meta["namespace"], meta["name"], {
                "active": 0, "startTime": None, "conditions": [
                    _condition("Suspended", "JobSuspended", "Job suspended", utcnow())]})
        except ApiError as exc:
            if exc.status != 404:
                self.errors.append(exc)

    async def _phase(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._resumed.wait()

    async def _run_job(self, job: Mapping[str, Any]) -> None:
        """The Job controller's part: Pods until one succeeds or the failures are too many."""
        meta, spec = job["metadata"], job.get("spec") or {}
        namespace, name = meta["namespace"], meta["name"]
        backoff_limit = int(spec.get("backoffLimit", 6))
        deadline = spec.get("activeDeadlineSeconds")
        loop = asyncio.get_running_loop()
        deadline_at = loop.time() + float(deadline) if deadline else None
        await self._job_status(namespace, name, {"startTime": utcnow(), "active": 1})
        failed = 0
        while True:
            outcome = await self._run_pod(job, deadline_at)
            await self._phase(self.delays.finishing)
            if outcome.succeeded:
                now = utcnow()
                await self._job_status(namespace, name, {
                    "active": None, "succeeded": 1, "completionTime": now, "conditions": [
                        _condition("SuccessCriteriaMet", "CompletionsReached",
                                   "Reached expected number of succeeded pods", now),
                        _condition("Complete", "CompletionsReached",
                                   "Reached expected number of succeeded pods", now)]})
                return
            failed += 1
            if outcome.reason == "DeadlineExceeded" or failed > backoff_limit:
                reason, message = (
                    ("DeadlineExceeded", "Job was active longer than specified deadline")
                    if outcome.reason == "DeadlineExceeded" else
                    ("BackoffLimitExceeded", "Job has reached the specified backoff limit"))
                now = utcnow()
                await self._job_status(namespace, name, {
                    "active": None, "failed": failed, "conditions": [
                        _condition("FailureTarget", reason, message, now),
                        _condition("Failed", reason, message, now)]})
                return
            await self._job_status(namespace, name, {"failed": failed})

    async def _job_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self.cluster.patch("batch/v1", "jobs", namespace, name, {"status": status},
                                 subresource="status")

    # ------------------------------------------------------------------------ the kubelet

    async def _run_pod(self, job: Mapping[str, Any], deadline_at: float | None) -> _Outcome:
        """The kubelet's part: one Pod from creation to termination."""
        meta = job["metadata"]
        template = (job.get("spec") or {}).get("template") or {}
        template_meta = template.get("metadata") or {}
        labels = {**(template_meta.get("labels") or {}),
                  "job-name": meta["name"], "batch.kubernetes.io/job-name": meta["name"],
                  "controller-uid": meta["uid"], "batch.kubernetes.io/controller-uid": meta["uid"]}
        pod_spec = json.loads(json.dumps(template.get("spec") or {}))
        pod_spec.setdefault("nodeName", "simulated-node")
        pod = await self.cluster.create({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                "labels": labels, "annotations": dict(template_meta.get("annotations") or {}),
                "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                     "name": meta["name"], "uid": meta["uid"],
                                     "controller": True, "blockOwnerDeletion": True}]},
            "spec": pod_spec})
        namespace, pod_name = meta["namespace"], pod["metadata"]["name"]
        containers = [container.get("name", "main")
                      for container in pod_spec.get("containers") or []]

        await self._phase(self.delays.pending)
        started = utcnow()
        await self._pod_status(namespace, pod_name, {
            "phase": "Running", "startTime": started,
            "conditions": [_condition("PodScheduled", "", "", started),
                           _condition("Ready", "", "", started)],
            "containerStatuses": [_container(container, {"running": {"startedAt": started}})
                                  for container in containers]})

        for container in containers:  # a started container has a log, empty so far
            self.cluster.emulator.pod_logs.write(namespace, pod_name, container, "")
        result = await self._evaluate(pod_spec, deadline_at, (namespace, pod_name, containers[0]))
        if isinstance(result, Streamed):
            result = await self._stream(namespace, pod_name, containers[0], result, deadline_at)
        if isinstance(result, Output):  # after any streamed output
            self.cluster.emulator.pod_logs.append(namespace, pod_name, containers[0],
                                                  result.text)
            failed = result.exit_code != 0
            await self._terminate(namespace, pod_name, containers, started,
                                  "Failed" if failed else "Succeeded", result.exit_code,
                                  "Error" if failed else "Completed", "")
            return _Outcome(succeeded=not failed)
        if isinstance(result, _Deadline):
            await self._terminate(namespace, pod_name, containers, started, "Failed", 137,
                                  "DeadlineExceeded", "")
            return _Outcome(succeeded=False, reason="DeadlineExceeded")
        if isinstance(result, BaseException):
            await self._terminate(namespace, pod_name, containers, started, "Failed", 1,
                                  "Error", str(result))
            return _Outcome(succeeded=False)
        message = ""
        if result is not None:
            message = result if isinstance(result, str) else json.dumps(result)
            await self.cluster.patch("v1", "pods", namespace, pod_name,
                                     {"metadata": {"annotations": {RESULT_ANNOTATION: message}}})
        await self._terminate(namespace, pod_name, containers, started, "Succeeded", 0,
                              "Completed", message)
        return _Outcome(succeeded=True)

    async def _evaluate(self, pod_spec: Mapping[str, Any], deadline_at: float | None,
                        where: tuple[str, str, str]) -> Result | _Deadline:
        """Run the trial: wait its running time, then call the objective on its params (or
        run its command, `where` being the namespace, pod and container of its log)."""
        loop = asyncio.get_running_loop()
        budget = None if deadline_at is None else deadline_at - loop.time()
        try:
            async with asyncio.timeout(budget):
                await self._phase(self.delays.running)
                if self.execute_in is not None:
                    return await self._execute(pod_spec, self.execute_in, *where)
                params = _params_of(pod_spec)
                if isinstance(params, BaseException):
                    return params
                try:
                    result = self.objective(params)
                    if inspect.isawaitable(result):
                        result = await result
                except Exception as exc:
                    return exc
                return result
        except TimeoutError:
            return _Deadline()

    async def _stream(self, namespace: str, pod_name: str, container: str, streamed: Streamed,
                      deadline_at: float | None) -> Result | _Deadline:
        """Print each chunk after its delay while the Pod exists; then the final result."""
        loop = asyncio.get_running_loop()
        budget = None if deadline_at is None else deadline_at - loop.time()
        logs = self.cluster.emulator.pod_logs
        try:
            async with asyncio.timeout(budget):
                for seconds, text in streamed.chunks:
                    await self._phase(seconds)
                    await self.cluster.get("v1", "pods", namespace, pod_name)  # 404: deleted
                    logs.append(namespace, pod_name, container, text)
        except TimeoutError:
            return _Deadline()
        return streamed.result

    async def _terminate(self, namespace: str, pod_name: str, containers: list[str],
                         started: str, phase: str, exit_code: int, reason: str,
                         message: str) -> None:
        finished = utcnow()
        message = message.encode()[:TERMINATION_MESSAGE_LIMIT].decode(errors="ignore")
        statuses = [_container(container, {"terminated": {
            "exitCode": exit_code if index == 0 else 0,
            "reason": reason if index == 0 else "Completed",
            "message": message if index == 0 else "",
            "startedAt": started, "finishedAt": finished,
            "containerID": f"simulated://{pod_name}/{container}"}}, ready=False)
            for index, container in enumerate(containers)]
        await self._pod_status(namespace, pod_name, {
            "phase": phase, "conditions": [_condition("PodScheduled", "", "", started),
                                           _condition("Ready", "PodCompleted", "", finished,
                                                      status="False")],
            "containerStatuses": statuses})

    async def _execute(self, pod_spec: Mapping[str, Any], directory: Path, namespace: str,
                       pod_name: str, log_name: str) -> Output:
        """Run the first container's command + args as a subprocess, its output appended to
        the container's log as it comes; SIGTERM when the Pod is deleted (module docstring).
        The Output's text is empty: the log already holds it."""
        container = (pod_spec.get("containers") or [{}])[0]
        argv = [str(part) for part in [*(container.get("command") or []),
                                       *(container.get("args") or [])]]
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        env = {**os.environ, **{str(var["name"]): str(var["value"])
                                for var in container.get("env") or [] if "value" in var}}
        grace = min(float(pod_spec.get("terminationGracePeriodSeconds", 30)), MAX_GRACE_SECONDS)
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=directory, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        logs, stdout = self.cluster.emulator.pod_logs, process.stdout
        assert stdout is not None

        async def pump() -> None:
            while chunk := await stdout.read(65536):
                logs.append(namespace, pod_name, log_name, chunk.decode(errors="replace"))

        async def deleted() -> bool:
            while process.returncode is None:
                await asyncio.sleep(0.05)
                try:
                    await self.cluster.get("v1", "pods", namespace, pod_name)
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    with contextlib.suppress(ProcessLookupError):  # it may just have ended
                        process.terminate()
                    try:
                        await asyncio.wait_for(process.wait(), grace)
                    except TimeoutError:
                        with contextlib.suppress(ProcessLookupError):
                            process.kill()
                    return True
            return False

        watcher = asyncio.create_task(deleted())
        try:
            await pump()
            await process.wait()
            gone = await watcher
        finally:
            watcher.cancel()
            if process.returncode is None:  # cut short (activeDeadlineSeconds, shutdown)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if gone:
            raise ApiError(404, {"reason": "NotFound", "message": f"pod {pod_name} deleted"})
        return Output("", process.returncode or 0)

    async def _pod_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await self.cluster.patch("v1", "pods", namespace, name, {"status": status},
                                 subresource="status")


def _params_of(pod_spec: Mapping[str, Any]) -> dict[str, float] | BaseException:
    for container in pod_spec.get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == PARAMS_ENV:
                try:
                    params = json.loads(env.get("value") or "")
                except ValueError as exc:
                    return ValueError(f"{PARAMS_ENV} is not JSON: {exc}")
                if not isinstance(params, dict):
                    return ValueError(f"{PARAMS_ENV} is not a JSON object")
                return params
    return LookupError(f"{PARAMS_ENV} is not set in the pod's environment")


def _condition(kind: str, reason: str, message: str, now: str,
               status: str = "True") -> dict[str, Any]:
    condition = {"type": kind, "status": status, "lastProbeTime": now, "lastTransitionTime": now}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _container(name: str, state: dict[str, Any], ready: bool = True) -> dict[str, Any]:
    return {"name": name, "ready": ready, "started": ready, "restartCount": 0, "state": state,
            "image": "simulated", "imageID": "", "containerID": f"simulated://{name}"}
