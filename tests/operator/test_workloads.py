"""The workload-kind table, rendering a trial of any kind, and reading its state (pure)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.k8s.workload_state import workload_state
from carbs_operator.models import StudySpec
from carbs_operator.template import (
    build_workload,
    local_run_note,
    primary_container_name,
    render_command,
    render_env,
)
from carbs_operator.validation import load_yaml, validate_manifest
from carbs_operator.workloads import KINDS, holds, kind_of
from tests.operator.manifest_cases import JOBSET, PYTORCHJOB, TRAINJOB, base_study
from tests.support.builders import study_spec

OWNER = {"apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsTrial", "name": "digits-3",
         "uid": "u-3", "controller": True, "blockOwnerDeletion": True}
PARAMS: dict[str, float | str] = {"lr": 0.003, "width": 64, "dropout": 0.1, "momentum": 0.5}


def spec_of(template: dict[str, Any]) -> StudySpec:
    return study_spec(trialTemplate=template)


def build(template: dict[str, Any]) -> dict[str, Any]:
    return build_workload("digits", "ml", "digits-3", 3, spec_of(template), PARAMS, OWNER)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_every_replica_of_a_pytorchjob_gets_the_parameters_labels_and_env() -> None:
    obj = build(PYTORCHJOB)
    assert (obj["apiVersion"], obj["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert obj["metadata"]["name"] == "digits-3"
    assert obj["metadata"]["ownerReferences"] == [OWNER]
    assert obj["metadata"]["labels"]["carbs.dev/trial"] == "digits-3"
    for role in ("Master", "Worker"):
        template = obj["spec"]["pytorchReplicaSpecs"][role]["template"]
        assert template["metadata"]["labels"]["carbs.dev/study"] == "digits"
        container = template["spec"]["containers"][0]
        assert container["args"] == ["--lr=0.003"]
        env = env_of(container)
        assert json.loads(env["CARBS_PARAMS"])["width"] == 64
        assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert obj["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3


def test_a_trainjob_trainer_is_its_container_and_spec_labels_carry_the_trial() -> None:
    obj = build(TRAINJOB)
    trainer = obj["spec"]["trainer"]
    assert trainer["args"] == ["--lr=0.003"]
    assert env_of(trainer)["CARBS_TRIAL"] == "digits-3"
    assert obj["spec"]["labels"]["carbs.dev/trial"] == "digits-3"
    assert primary_container_name(spec_of(TRAINJOB)) == "node"


def test_a_job_template_still_renders_a_job() -> None:
    obj = build(base_study()["spec"]["trialTemplate"])
    assert (obj["apiVersion"], obj["kind"]) == ("batch/v1", "Job")
    assert obj["spec"]["backoffLimit"] == 0


def test_carbs_run_runs_the_primary_container_and_says_so() -> None:
    spec = spec_of({**PYTORCHJOB, "spec": {"pytorchReplicaSpecs": {
        "Worker": {"template": {"spec": {"containers": [
            {"name": "pytorch", "command": ["python", "worker.py"]}]}}},
        "Master": {"template": {"spec": {"containers": [
            {"name": "sidecar", "command": ["sleep"]},
            {"name": "pytorch", "command": ["python", "train.py"], "args": ["--lr=${params.lr}"],
             "env": [{"name": "WIDTH", "value": "${params.width}"}]}]}}}}}})
    assert render_command(spec, PARAMS) == ["python", "train.py", "--lr=0.003"]
    assert render_env(spec, "digits", "digits-3", PARAMS)["WIDTH"] == "64"
    note = local_run_note(spec)
    assert note == ("PyTorchJob trials run locally as one process: the primary container "
                    "'pytorch' (spec.pytorchReplicaSpecs.Master.template.spec.containers[1]), "
                    "as the Master replica would; the other replicas do not run here")
    assert local_run_note(spec_of(base_study()["spec"]["trialTemplate"])) is None


def test_the_table_has_the_documented_defaults() -> None:
    assert set(KINDS) == {"Job", "JobSet", "TrainJob", "PyTorchJob"}
    jobset = kind_of(JOBSET)
    assert jobset.primary_labels(JOBSET["spec"]) == {
        "jobset.sigs.k8s.io/replicatedjob-name": "workers", "jobset.sigs.k8s.io/job-index": "0",
        "batch.kubernetes.io/job-completion-index": "0"}
    done = {"status": {"conditions": [{"type": "Completed", "status": "True"}]}}
    assert holds(jobset.success_condition, done)
    assert not holds(jobset.failure_condition, done)
    assert not holds(jobset.success_condition, {})  # no status yet: not done, no error
    assert not holds("self.status.x == 1", {})


def _pod(name: str, index: str, gpus: int, start: str, end: str | None, code: int = 0,
         message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"running": {"startedAt": start}} if end is None else {
        "terminated": {"exitCode": code, "startedAt": start, "finishedAt": end,
                       "message": message}}
    return {"metadata": {"name": name, "creationTimestamp": start,
                         "labels": {"jobset.sigs.k8s.io/job-index": "0",
                                    "batch.kubernetes.io/job-completion-index": index}},
            "spec": {"containers": [{"name": "trainer",
                                     "resources": {"limits": {"nvidia.com/gpu": gpus}}}]},
            "status": {"phase": "Running" if end is None else "Succeeded",
                       "containerStatuses": [{"name": "trainer", "state": state}]}}


RANK0 = {"jobset.sigs.k8s.io/job-index": "0", "batch.kubernetes.io/job-completion-index": "0"}
OK = "has(self.status) && self.status.done"
BAD = "has(self.status) && self.status.failed"


def _state(obj: dict[str, Any], pods: list[dict[str, Any]]) -> Any:
    return workload_state(obj, pods, success=OK, failure=BAD, primary_labels=RANK0,
                          container="trainer", now=2e9)


def test_state_sums_gpu_seconds_over_pods_from_the_first_start() -> None:
    pods = [_pod("w-0", "0", 2, "2025-01-01T00:00:10Z", "2025-01-01T00:01:10Z",
                 message='{"loss": 1}'),
            _pod("w-1", "1", 1, "2025-01-01T00:00:20Z", "2025-01-01T00:00:50Z")]
    state = _state({"status": {"done": True}}, pods)
    assert (state.finished, state.failure) == (True, None)
    assert state.gpu_seconds == 2 * 60 + 1 * 30
    assert state.runtime_seconds == 60  # from the first pod's start to the last pod's end
    assert state.result_text == '{"loss": 1}'  # rank 0's termination message


def test_a_suspended_workload_without_pods_is_pending_and_costs_nothing() -> None:
    state = _state({"spec": {"suspend": True}}, [])
    assert (state.started, state.finished, state.runtime_seconds) == (False, False, 0.0)
    running = _state({}, [_pod("w-0", "0", 1, "2025-01-01T00:00:10Z", None)])
    assert (running.started, running.finished) == (True, False)


@pytest.mark.parametrize(("code", "expected"), [
    (3, "replica w-1 (trainer) exited with code 3: NCCL timeout"),
    (0, "DeadlineExceeded: too slow"),
])
def test_a_failed_workload_names_its_replica_or_its_reason(code: int, expected: str) -> None:
    pods = [_pod("w-0", "0", 1, "2025-01-01T00:00:10Z", "2025-01-01T00:00:30Z"),
            _pod("w-1", "1", 1, "2025-01-01T00:00:10Z", "2025-01-01T00:00:20Z", code,
                 "NCCL timeout")]
    obj = {"status": {"failed": True, "conditions": [
        {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
         "message": "too slow"}]}}
    assert _state(obj, pods).failure == expected


def test_the_guide_has_a_valid_complete_manifest_per_kind() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "workloads.md").read_text(encoding="utf-8")
    section = guide.split("# Trials of any size", 1)[1].split("\n## ", 1)[0]
    kinds = []
    for block in re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL):
        obj, problems = load_yaml(block)
        assert problems == []
        assert validate_manifest(obj) == [], block
        kinds.append(obj["spec"]["trialTemplate"]["kind"])
    assert kinds == ["Job", "JobSet", "TrainJob", "PyTorchJob"]
