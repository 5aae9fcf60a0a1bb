"""The workload kinds a trial may run as: a table of data and pure functions (both runtimes).

Each kind says where its containers are (every container of every replica gets the
parameters and the CARBS_* env), where its pod templates are (they get the carbs.dev
labels), how to find its pods, which pod and container hold the result by default (rank 0),
and when it has succeeded or failed, as CEL over the object, the Kubernetes way of writing
such rules. The reconciler and the local runner only call these functions; a new kind is a
new row. Stdlib only at runtime (the models import it); CEL is compiled lazily.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from carbs_operator.errors import InvalidInputError

Container = tuple[str, dict[str, Any]]  # (field path in the object, the container)

JOB_COMPLETE = ("has(self.status) && has(self.status.conditions) && self.status.conditions"
                ".exists(c, c.type == '{type}' && c.status == 'True')")


def _condition(kind: str) -> str:
    return JOB_COMPLETE.replace("{type}", kind)


def _dict(node: Any) -> dict[str, Any]:
    return node if isinstance(node, dict) else {}


def _list(node: Any) -> list[Any]:
    return node if isinstance(node, list) else []


def _job_pods(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    template = spec.get("template")
    if isinstance(template, dict):
        yield "spec.template", template


def _jobset_pods(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, job in enumerate(_list(spec.get("replicatedJobs"))):
        template = _dict(_dict(_dict(job).get("template")).get("spec")).get("template")
        if isinstance(template, dict):
            yield f"spec.replicatedJobs[{i}].template.spec.template", template


def _pytorch_pods(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    replicas = _dict(spec.get("pytorchReplicaSpecs"))
    for role in sorted(replicas, key=lambda r: (r != "Master", r)):  # Master (rank 0) first
        template = _dict(replicas[role]).get("template")
        if isinstance(template, dict):
            yield f"spec.pytorchReplicaSpecs.{role}.template", template


def _no_pods(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    return iter(())


def _trainer(spec: dict[str, Any]) -> list[Container]:
    trainer = spec.get("trainer")
    return [("spec.trainer", trainer)] if isinstance(trainer, dict) else []


def _jobset_rank0(spec: dict[str, Any]) -> dict[str, str]:
    first = _dict(next(iter(_list(spec.get("replicatedJobs"))), {})).get("name")
    labels = {"jobset.sigs.k8s.io/job-index": "0", "batch.kubernetes.io/job-completion-index": "0"}
    if isinstance(first, str):
        labels["jobset.sigs.k8s.io/replicatedjob-name"] = first
    return labels


@dataclass(frozen=True)
class WorkloadKind:
    """One row of the table; see the module docstring."""

    api_version: str
    kind: str
    plural: str
    success_condition: str
    failure_condition: str
    pod_templates: Callable[[dict[str, Any]], Iterator[tuple[str, dict[str, Any]]]]
    # Containers outside pod templates (TrainJob's trainer), and where its labels go.
    extra_containers: Callable[[dict[str, Any]], list[Container]] = lambda spec: []
    primary_labels: Callable[[dict[str, Any]], dict[str, str]] = lambda spec: {}
    default_container_name: str | None = None  # the primary's; None: the first one found
    # How its pods are found: their label, with the trial's name as value.
    pod_label: str = "carbs.dev/trial"
    spec_labels: bool = False  # labels go in spec.labels (no pod template to put them on)
    rank0: str = "the Job's pod"
    notes: tuple[str, ...] = field(default=())

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def is_job(self) -> bool:
        return (self.api_version, self.kind) == ("batch/v1", "Job")


KINDS: dict[str, WorkloadKind] = {k.kind: k for k in (
    WorkloadKind("batch/v1", "Job", "jobs", _condition("Complete"), _condition("Failed"),
                 _job_pods, pod_label="job-name"),
    WorkloadKind("jobset.x-k8s.io/v1alpha2", "JobSet", "jobsets", _condition("Completed"),
                 _condition("Failed"), _jobset_pods, primary_labels=_jobset_rank0,
                 rank0="job 0, completion index 0 of the first replicated job"),
    WorkloadKind("trainer.kubeflow.org/v1alpha1", "TrainJob", "trainjobs",
                 _condition("Complete"), _condition("Failed"), _no_pods,
                 extra_containers=_trainer,
                 primary_labels=lambda spec: {
                     "jobset.sigs.k8s.io/replicatedjob-name": "node",
                     "jobset.sigs.k8s.io/job-index": "0",
                     "batch.kubernetes.io/job-completion-index": "0"},
                 default_container_name="node", pod_label="jobset.sigs.k8s.io/jobset-name",
                 spec_labels=True, rank0="node 0 of the trainer"),
    WorkloadKind("kubeflow.org/v1", "PyTorchJob", "pytorchjobs", _condition("Succeeded"),
                 _condition("Failed"), _pytorch_pods,
                 primary_labels=lambda spec: {"training.kubeflow.org/replica-type": "master",
                                              "training.kubeflow.org/replica-index": "0"},
                 default_container_name="pytorch", rank0="the Master replica"),
)}
JOB = KINDS["Job"]


class WorkloadError(InvalidInputError, ValueError):
    """The template names a kind this project cannot run."""


def kind_of(template: Mapping[str, Any]) -> WorkloadKind:
    """The row for a trial template (no apiVersion/kind: a batch/v1 Job)."""
    api_version, kind = template.get("apiVersion"), template.get("kind")
    if api_version is None and kind is None:
        return JOB
    row = KINDS.get(str(kind))
    if row is None or row.api_version != api_version:
        known = ", ".join(f"{k.kind} ({k.api_version})" for k in KINDS.values())
        raise WorkloadError(f"{kind} ({api_version}) is not a supported trial kind "
                            f"(supported: {known})")
    return row


def pod_templates(kind: WorkloadKind, obj_spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return list(kind.pod_templates(obj_spec))


def containers(kind: WorkloadKind, obj_spec: dict[str, Any]) -> list[Container]:
    """Every container of every replica, with its field path (e.g.
    `spec.replicatedJobs[0].template.spec.template.spec.containers[1]`)."""
    found: list[Container] = []
    for path, template in kind.pod_templates(obj_spec):
        for i, container in enumerate(_list(_dict(template.get("spec")).get("containers"))):
            if isinstance(container, dict):
                found.append((f"{path}.spec.containers[{i}]", container))
    return found + kind.extra_containers(obj_spec)


def container_name(kind: WorkloadKind, path: str, container: Mapping[str, Any]) -> str:
    """A container's name (TrainJob's trainer has none of its own: its pods call it node)."""
    if path == "spec.trainer" and kind.default_container_name:
        return kind.default_container_name
    return str(container.get("name", ""))


def find_primary_container(kind: WorkloadKind, obj_spec: dict[str, Any],
                           name: str | None = None) -> Container | None:
    """The container holding the result: `name`, else the kind's default (the first)."""
    found = containers(kind, obj_spec)
    wanted = name or kind.default_container_name
    if wanted is None:
        return found[0] if found else None
    return next(((p, c) for p, c in found if container_name(kind, p, c) == wanted), None)


def primary_pod_labels(kind: WorkloadKind, obj_spec: dict[str, Any],
                       override: Mapping[str, str] | None) -> dict[str, str]:
    return dict(override) if override else kind.primary_labels(obj_spec)


def is_suspended(obj: Mapping[str, Any]) -> bool:
    """Whether the workload is held suspended (`spec.suspend`: how Kueue queues Jobs, JobSets
    and TrainJobs until it admits them, and how it preempts them after)."""
    spec = obj.get("spec")
    return isinstance(spec, Mapping) and spec.get("suspend") is True


def primary_pod(pods: Sequence[Mapping[str, Any]],
                labels: Mapping[str, str] | None = None) -> Mapping[str, Any] | None:
    """Among the trial's pods that carry `labels`: the last one that succeeded, else the
    last one created (a retried pod's log says why it failed); None when none is left."""
    wanted = dict(labels or {})
    matching = [p for p in pods if wanted.items() <= _labels(p).items()]
    if not matching:
        return None
    ordered = sorted(matching, key=lambda p: str(_meta(p).get("creationTimestamp") or ""))
    succeeded = [p for p in ordered if (p.get("status") or {}).get("phase") == "Succeeded"]
    return (succeeded or ordered)[-1]


def _meta(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = pod.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _labels(pod: Mapping[str, Any]) -> dict[str, str]:
    labels = _meta(pod).get("labels")
    return dict(labels) if isinstance(labels, Mapping) else {}


# -- conditions (CEL) -------------------------------------------------------------------

MAX_CACHED_PROGRAMS = 256
_PROGRAMS: dict[str, Any] = {}


def cel_problem(expression: str) -> str | None:
    """Why `expression` does not compile as CEL, or None."""
    try:
        _program(expression)
    except Exception as error:  # celpy's parse errors share no public base class
        return f"is not valid CEL: {str(error).strip().splitlines()[0][:200]}"
    return None


def _program(expression: str) -> Any:
    program = _PROGRAMS.get(expression)
    if program is None:
        import celpy  # the operator's dependency; the SDK never gets here

        if len(_PROGRAMS) >= MAX_CACHED_PROGRAMS:  # expressions come from users: bounded
            _PROGRAMS.clear()

        environment = celpy.Environment()
        program = environment.program(environment.compile(expression))
        _PROGRAMS[expression] = program
    return program


def holds(expression: str, obj: Mapping[str, Any]) -> bool:
    """Whether a condition holds for `obj` (as `self`). An expression that reads a field the
    object does not have yet is false, as it will be until the controller writes it."""
    import celpy
    from celpy.adapter import json_to_cel

    try:
        value = _program(expression).evaluate({"self": json_to_cel(dict(obj))})
    except Exception:  # evaluation errors (a missing field) and celpy's internal ones
        return False
    return isinstance(value, bool | celpy.celtypes.BoolType) and bool(value)
