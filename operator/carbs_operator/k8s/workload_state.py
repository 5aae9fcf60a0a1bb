"""What a workload of any kind and its pods say about a trial (pure; no API calls).

A batch/v1 Job with the default conditions is read by trials.job_state; every other kind
(and a Job with its own successCondition/failureCondition) is read here:

- finished: the success or the failure condition (CEL over the object) holds;
- started: one of its pods started. A workload that Kueue holds suspended has no pods, so
  its trial stays Pending and its queue time is never measured;
- runtimeSeconds: from the first pod's start to the last pod's end (or to the condition
  that ended it); gpuSeconds: GPUs x running time, summed over every pod;
- the failure: the first replica that exited non-zero, named, else the object's own reason;
- the result (Report collector): the primary pod's annotation, else its container's
  termination message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from carbs_operator.k8s.trials import RESULT_ANNOTATION, JobState, _seconds
from carbs_operator.template import TemplateError, limit_gpus
from carbs_operator.workloads import holds, primary_pod


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def pod_started(pod: Mapping[str, Any]) -> float | None:
    """When the pod's containers started running (None while it is Pending)."""
    stamps = []
    for status in _statuses(pod):
        state = status.get("state") or {}
        running = state.get("running") or state.get("terminated") or {}
        stamp = _seconds(running.get("startedAt"))
        if stamp is not None:
            stamps.append(stamp)
    if stamps:
        return min(stamps)
    phase = (pod.get("status") or {}).get("phase")
    return _seconds((pod.get("status") or {}).get("startTime")) if phase == "Running" else None


def pod_finished(pod: Mapping[str, Any]) -> float | None:
    """When the pod's last container terminated (None while one still runs)."""
    stamps = []
    for status in _statuses(pod):
        terminated = (status.get("state") or {}).get("terminated")
        if not terminated:
            return None
        stamp = _seconds(terminated.get("finishedAt"))
        if stamp is not None:
            stamps.append(stamp)
    return max(stamps) if stamps else None


def pod_gpus(pod: Mapping[str, Any]) -> int:
    """GPUs the pod's containers are limited to (0 for a pod with a malformed limit)."""
    total = 0
    for container in (pod.get("spec") or {}).get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        try:
            total += limit_gpus(limits)
        except TemplateError:
            return 0
    return total


def _failed_replica(pods: Sequence[Mapping[str, Any]]) -> str | None:
    for pod in sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name"))):
        for status in _statuses(pod):
            terminated = (status.get("state") or {}).get("terminated") or {}
            if terminated.get("exitCode") not in (None, 0):
                message = str(terminated.get("message") or terminated.get("reason") or "").strip()
                tail = f": {message.splitlines()[-1][:300]}" if message else ""
                name = (pod.get("metadata") or {}).get("name")
                return (f"replica {name} ({status.get('name')}) exited with code "
                        f"{terminated['exitCode']}{tail}")
    return None


def _failed_condition(obj: Mapping[str, Any]) -> str:
    conditions = (obj.get("status") or {}).get("conditions") or []
    failed = next((c for c in conditions if c.get("type") == "Failed"
                   and c.get("status") == "True"), None)
    if failed is None:
        return f"the {obj.get('kind', 'workload')} met its failureCondition"
    return f"{failed.get('reason') or 'Failed'}: {failed.get('message') or 'the workload failed'}"


def _end_of(obj: Mapping[str, Any]) -> float | None:
    stamps = [_seconds(c.get("lastTransitionTime"))
              for c in (obj.get("status") or {}).get("conditions") or []
              if c.get("status") == "True" and c.get("type") in ("Complete", "Completed",
                                                                 "Succeeded", "Failed")]
    found = [s for s in stamps if s is not None]
    return max(found) if found else None


def reported(pod: Mapping[str, Any] | None, container: str) -> str | None:
    """What report() published in the primary pod: its annotation, else the termination
    message of its primary container."""
    if pod is None:
        return None
    annotation = ((pod.get("metadata") or {}).get("annotations") or {}).get(RESULT_ANNOTATION)
    if annotation:
        return str(annotation)
    for status in _statuses(pod):
        terminated = (status.get("state") or {}).get("terminated") or {}
        if status.get("name") == container and terminated.get("message"):
            return str(terminated["message"])
    return None


def workload_state(obj: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *,
                   success: str, failure: str, primary_labels: Mapping[str, str],
                   container: str, now: float) -> JobState:
    """The trial's state from its workload object and all its pods (module docstring)."""
    starts = {id(p): pod_started(p) for p in pods}
    began = [s for s in starts.values() if s is not None]
    started_at = min(began) if began else None
    failed = holds(failure, obj)
    done = failed or holds(success, obj)
    if not done:
        return JobState(started_at is not None, False, started_at=started_at)
    ends = [e for e in (pod_finished(p) for p in pods) if e is not None]
    finished_at = max(ends) if ends else (_end_of(obj) or now)
    gpu_seconds = 0.0
    for pod in pods:
        start = starts[id(pod)]
        if start is not None:
            end = pod_finished(pod) or finished_at
            gpu_seconds += pod_gpus(pod) * max(0.0, end - start)
    runtime = max(0.0, finished_at - started_at) if started_at is not None else 0.0
    primary = primary_pod(pods, primary_labels)
    failure_text = (_failed_replica(pods) or _failed_condition(obj)) if failed else None
    return JobState(True, True, failure_text, reported(primary, container), runtime,
                    started_at, finished_at, gpu_seconds=gpu_seconds)
