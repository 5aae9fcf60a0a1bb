"""Pure mapping between CarbsTrial objects, Jobs, Pods and trial records."""

from __future__ import annotations

from typing import Any

from carbs_operator.k8s.trials import (
    RESULT_ANNOTATION,
    job_state,
    owner_reference,
    record_from_object,
    status_for,
    trial_manifest,
)
from carbs_operator.models import SuggestionKind, TrialPhase
from carbs_operator.study import Outcome

STUDY: dict[str, Any] = {
    "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy",
    "metadata": {"name": "s", "namespace": "ns", "uid": "u-1"},
}


def job(*conditions: dict[str, str], deadline: int | None = None) -> dict[str, Any]:
    return {
        "spec": {"activeDeadlineSeconds": deadline} if deadline else {},
        "status": {"startTime": "2026-01-01T00:00:00Z", "conditions": list(conditions),
                   **({"completionTime": "2026-01-01T00:00:10Z"}
                      if any(c["type"] == "Complete" for c in conditions) else {})},
    }


def pod(annotation: str | None = None, exit_code: int = 0, message: str = "") -> dict[str, Any]:
    return {
        "metadata": {"annotations": {RESULT_ANNOTATION: annotation} if annotation else {}},
        "status": {"containerStatuses": [{"state": {"terminated": {
            "exitCode": exit_code, "message": message, "reason": "Completed"}}}]},
    }


def test_trial_manifest_round_trips_to_a_record() -> None:
    manifest = trial_manifest(STUDY, "s-3", 3, {"lr": 0.01}, "abc", "bayesian")
    assert manifest["metadata"]["ownerReferences"] == [owner_reference(STUDY)]
    assert manifest["metadata"]["labels"] == {"carbs.dev/study": "s", "carbs.dev/trial": "s-3"}
    record = record_from_object(manifest)
    assert (record.index, record.phase, record.suggestion_id) == (3, TrialPhase.PENDING, "abc")
    assert record.suggestion_kind == SuggestionKind.BAYESIAN
    assert record.params == {"lr": 0.01}


def test_complete_job_reads_the_annotation_first() -> None:
    state = job_state(job({"type": "Complete", "status": "True"}),
                      [pod('{"loss": 1}', message='{"loss": 2}')])
    assert state.finished
    assert state.failure is None
    assert state.result_text == '{"loss": 1}'
    assert state.runtime_seconds == 10.0


def test_termination_message_is_the_fallback() -> None:
    state = job_state(job({"type": "Complete", "status": "True"}), [pod(message='{"loss": 2}')])
    assert state.result_text == '{"loss": 2}'


def test_failed_job_names_exit_code_and_last_message_line() -> None:
    failed = {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
              "lastTransitionTime": "2026-01-01T00:00:04Z"}
    state = job_state(job(failed), [pod(exit_code=3, message="Traceback\nOOM: out of memory")])
    assert state.finished
    assert state.failure == "exited with code 3: OOM: out of memory"
    assert state.runtime_seconds == 4.0


def test_deadline_exceeded_reads_as_a_timeout() -> None:
    failed = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}
    state = job_state(job(failed, deadline=60), [])
    assert state.failure == "timed out after 60 s (activeDeadlineSeconds)"


def test_running_job_is_started_not_finished() -> None:
    state = job_state(job(), [])
    assert state.started
    assert not state.finished


def test_status_for_an_outcome() -> None:
    state = job_state(job({"type": "Complete", "status": "True"}), [])
    status = status_for(Outcome(TrialPhase.SUCCEEDED, {"loss": 1.5}, 1.5, 10.0, None), state)
    assert status["phase"] == "Succeeded"
    assert status["objective"] == 1.5
    assert status["cost"] == 10.0
    assert status["startTime"] == "2026-01-01T00:00:00Z"
    assert status["completionTime"] == "2026-01-01T00:00:10Z"
    assert "failureReason" not in status
