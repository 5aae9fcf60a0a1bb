"""Pure mapping between CarbsTrial objects, Jobs, Pods and trial records."""

from __future__ import annotations

from typing import Any

from carbs_operator.early_stopping import CurvePoint, StopDecision
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


def test_an_early_stopped_trial_round_trips_and_hand_edits_are_tolerated() -> None:
    manifest = trial_manifest(STUDY, "s-3", 3, {"x": 0.5}, "id-3", "bayesian",
                              predicted_cost=120.0)
    assert manifest["spec"]["suggestion"]["predictedCost"] == 120.0
    for bad in (None, float("nan"), 0.0, -1.0):  # random points have no prediction
        unpredicted = trial_manifest(STUDY, "s-3", 3, {"x": 0.5}, "id-3", "random",
                                     predicted_cost=bad)
        assert "predictedCost" not in unpredicted["spec"]["suggestion"]
    obj = {**manifest, "metadata": {**manifest["metadata"], "uid": "t-3"}, "status": {
        "phase": "EarlyStopped", "objective": 2.0, "cost": 30.0,
        "learningCurve": [{"step": 0, "objective": 3.0, "cost": 10.0},
                          {"step": 1, "objective": "hand-edited"},  # dropped
                          {"step": 2, "objective": 2.0, "cost": 30.0}],
        "earlyStop": {"reason": "Median: worse", "step": 2, "objective": 2.0, "cost": 30.0},
        "progressWarning": ["not", "a", "string"]}}
    record = record_from_object(obj)
    assert record.phase == TrialPhase.EARLY_STOPPED
    assert (record.objective, record.cost, record.predicted_cost) == (2.0, 30.0, 120.0)
    assert record.curve == (CurvePoint(0, 3.0, 10.0), CurvePoint(2, 2.0, 30.0))
    assert record.early_stop == StopDecision("Median: worse", 2, 2.0, 30.0)
    assert record.progress_warning is None
    assert not record.in_flight
