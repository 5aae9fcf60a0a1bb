"""CarbsTrial objects and their Jobs, as plain dicts in and out (pure; no API calls).

A trial is a `CarbsTrial` named `<study>-<index>`, owned by its study; its Job has the same
name and is owned by the trial. The trial object is the durable record: the engine is
rebuilt from these objects (replay), so nothing lives only in the operator's memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from carbs_operator.models import API_VERSION, TRIAL_KIND, SuggestionKind, TrialPhase
from carbs_operator.study import Outcome, TrialRecord
from carbs_operator.template import LABEL_STUDY, LABEL_TRIAL
from carbs_operator.trial_progress import curve_from_status, stop_from_status

RESULT_ANNOTATION = "carbs.dev/result"


def owner_reference(obj: Mapping[str, Any], controller: bool = True) -> dict[str, Any]:
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": True,
    }


def trial_manifest(
    study: Mapping[str, Any], name: str, index: int, params: Mapping[str, float],
    suggestion_id: str, kind: str, annotations: Mapping[str, str] | None = None,
    predicted_cost: float | None = None,
) -> dict[str, Any]:
    """The CarbsTrial of one suggestion; `predicted_cost` is the engine's (Bayesian
    suggestions only), which early stopping's grace and the saved-compute estimate use."""
    suggestion: dict[str, Any] = {"suggestionId": suggestion_id, "kind": kind}
    if predicted_cost is not None and math.isfinite(predicted_cost) and predicted_cost > 0:
        suggestion["predictedCost"] = predicted_cost
    study_name = study["metadata"]["name"]
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": study["metadata"].get("namespace"),
        "labels": {LABEL_STUDY: study_name, LABEL_TRIAL: name},
        "ownerReferences": [owner_reference(study)],
    }
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": API_VERSION,
        "kind": TRIAL_KIND,
        "metadata": metadata,
        "spec": {
            "study": study_name,
            "index": index,
            "params": dict(params),
            "suggestion": suggestion,
        },
    }


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record_from_object(obj: Mapping[str, Any]) -> TrialRecord:
    """The runtime-neutral record of a CarbsTrial (no status yet: Pending)."""
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    suggestion = spec.get("suggestion") or {}
    kind = suggestion.get("kind")
    return TrialRecord(
        index=int(spec.get("index", 0)),
        params={k: _param_value(v) for k, v in (spec.get("params") or {}).items()},
        phase=TrialPhase(status.get("phase") or TrialPhase.PENDING.value),
        suggestion_id=suggestion.get("suggestionId"),
        suggestion_kind=SuggestionKind(kind) if kind else None,
        objective=status.get("objective"),
        cost=status.get("cost"),
        metrics=status.get("metrics") or {},
        failure_reason=status.get("failureReason"),
        created_at=_seconds(obj.get("metadata", {}).get("creationTimestamp")),
        started_at=_seconds(status.get("startTime")),
        finished_at=_seconds(status.get("completionTime")),
        predicted_cost=_positive(suggestion.get("predictedCost")),
        curve=curve_from_status(status.get("learningCurve")),
        early_stop=stop_from_status(status.get("earlyStop")),
        progress_warning=_text(status.get("progressWarning")),
    )


def _positive(value: Any) -> float | None:
    """A finite number > 0 (a predicted cost), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) and value > 0 else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _param_value(value: Any) -> float | str:
    """A number, or a string (a categorical's choice, a string ordinal's value), as stored."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a parameter value must be a number or a string, got {value!r}")
    return value


def usable_record(obj: Any) -> TrialRecord | None:
    """The record of a trial object, or None for one that is not a CarbsTrial as the
    operator writes them (hand-edited, or a create answered with no body). The operator
    never crashes on what it reads back: it logs and skips such an object."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("metadata"), Mapping):
        return None
    try:
        return record_from_object(obj)
    except (TypeError, ValueError, AttributeError, KeyError):
        return None


def trial_index(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("spec") or {}).get("index", -1))
    except (TypeError, ValueError, AttributeError):
        return -1


@dataclass(frozen=True)
class JobState:
    """What a Job and its pods say about the trial's workload."""

    started: bool
    finished: bool
    failure: str | None = None
    result_text: str | None = None
    runtime_seconds: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    gpu_seconds: float | None = None  # summed over every pod (kinds other than Job)


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated:
            return dict(terminated)
    return None


def _result_from_pods(pods: Sequence[Mapping[str, Any]]) -> str | None:
    """The annotation the SDK writes, else the container's termination message."""
    for pod in pods:
        annotation = ((pod.get("metadata") or {}).get("annotations") or {}).get(RESULT_ANNOTATION)
        if annotation:
            return str(annotation)
    for pod in pods:
        terminated = _terminated(pod)
        if terminated and terminated.get("message"):
            return str(terminated["message"])
    return None


def _failure_text(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> str:
    conditions = (job.get("status") or {}).get("conditions") or []
    failed: Mapping[str, Any] = next((c for c in conditions if c.get("type") == "Failed"), {})
    if failed.get("reason") == "DeadlineExceeded":
        deadline = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return f"timed out after {deadline} s (activeDeadlineSeconds)"
    for pod in pods:
        terminated = _terminated(pod)
        if terminated and terminated.get("exitCode") not in (None, 0):
            message = str(terminated.get("message") or terminated.get("reason") or "").strip()
            tail = f": {message.splitlines()[-1][:300]}" if message else ""
            return f"exited with code {terminated['exitCode']}{tail}"
    reason = failed.get("reason") or "Failed"
    message = failed.get("message") or "the Job failed"
    return f"{reason}: {message}"


def job_state(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> JobState:
    status = job.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    started_at = _seconds(status.get("startTime"))
    finished_at = _seconds(status.get("completionTime"))
    done = conditions.get("Complete") or conditions.get("SuccessCriteriaMet")
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed is not None:
        finished_at = finished_at or _seconds(failed.get("lastTransitionTime"))
    runtime = 0.0
    if started_at is not None and finished_at is not None:
        runtime = max(0.0, finished_at - started_at)
    started = started_at is not None or bool(status.get("active"))
    if failed is not None:
        return JobState(True, True, _failure_text(job, pods), _result_from_pods(pods), runtime,
                        started_at, finished_at)
    if done is not None:
        return JobState(True, True, None, _result_from_pods(pods), runtime, started_at,
                        finished_at)
    return JobState(started, False, started_at=started_at)


def status_for(outcome: Outcome, state: JobState) -> dict[str, Any]:
    """The CarbsTrial status of a concluded trial."""
    status: dict[str, Any] = {
        "phase": outcome.phase.value,
        "metrics": {k: v for k, v in outcome.metrics.items() if math.isfinite(v)},
        "runtimeSeconds": state.runtime_seconds,
    }
    if outcome.objective is not None:
        status["objective"] = outcome.objective
    if outcome.cost is not None:
        status["cost"] = outcome.cost
    if outcome.failure_reason is not None:
        status["failureReason"] = outcome.failure_reason[:4096]
    if state.started_at is not None:
        status["startTime"] = timestamp(state.started_at)
    if state.finished_at is not None:
        status["completionTime"] = timestamp(state.finished_at)
    return status
