"""The trial template of a study: a batch/v1 JobTemplateSpec by default, or a whole object
of another workload kind (JobSet, TrainJob, PyTorchJob) when it names apiVersion and kind.
Modelled only as far as this project reads it (other fields are kept as written); the kinds
themselves are a table in carbs_operator.workloads."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from carbs_operator.models.base import Int, LooseModel, cel, raise_problems
from carbs_operator.workloads import (
    KINDS,
    WorkloadError,
    cel_problem,
    container_name,
    containers,
    find_primary_container,
    kind_of,
)


class EnvVar(LooseModel):
    """An environment variable; valueFrom and other fields are kept as written."""

    name: str = Field(
        min_length=1,
        description="Variable name. CARBS_STUDY, CARBS_TRIAL, CARBS_PARAMS, "
        "CARBS_RESULT_FILE and CARBS_PARAM_* are reserved.",
    )
    value: str | None = Field(
        None, description="Value; in the first container ${params.<name>} is replaced."
    )


class Container(LooseModel):
    """A container of the trial pod; the first one is the trial."""

    name: str = Field(min_length=1, description="Container name.")
    image: str | None = Field(None, description="Image; ignored by `carbs run`.")
    command: list[str] | None = Field(
        None,
        description="Entrypoint, ${params.<name>} replaced. `carbs run` runs command + args "
        "as a subprocess (no shell).",
    )
    args: list[str] | None = Field(None, description="Arguments, ${params.<name>} replaced.")
    env: list[EnvVar] | None = Field(
        None,
        description="Environment; trials also get CARBS_STUDY, CARBS_TRIAL, CARBS_PARAMS (JSON) "
        "and CARBS_PARAM_<NAME>.",
    )
    resources: dict[str, Any] | None = Field(
        None,
        description="Compute resources; GPU limits (e.g. nvidia.com/gpu) count for cost "
        "source gpuSeconds.",
    )


class PodSpec(LooseModel):
    """The trial pod's spec."""

    model_config = ConfigDict(json_schema_extra=cel(
        ("(has(self.containers[0].command) && size(self.containers[0].command) > 0) || "
         "(has(self.containers[0].args) && size(self.containers[0].args) > 0)",
         "the first container needs a command or args", ".containers"),
    ))
    containers: list[Container] = Field(
        min_length=1, description="Containers; the first is the trial and gets the parameters."
    )

    @model_validator(mode="after")
    def _first_runs_something(self) -> PodSpec:
        if not self.containers[0].command and not self.containers[0].args:
            raise_problems([("containers[0]", "needs a command or args")])
        return self


class PodTemplate(LooseModel):
    """The trial pod's template."""

    metadata: dict[str, Any] | None = Field(
        None, description="Pod metadata; labels carbs.dev/study and carbs.dev/trial are added."
    )
    spec: PodSpec = Field(description="Pod spec; restartPolicy defaults to Never.")


class JobSpec(LooseModel):
    """The trial Job's spec."""

    template: PodTemplate | None = Field(
        None, description="Pod template of the trial (a Job's; required without kind)."
    )
    active_deadline_seconds: Int | None = Field(
        None, ge=1, description="Fail a trial that runs longer than this many seconds."
    )


def _supported_kinds() -> str:
    return " || ".join(f"(self.kind == '{k.kind}' && self.apiVersion == '{k.api_version}')"
                       for k in KINDS.values())


class TrialTemplate(LooseModel):
    """A batch/v1 JobTemplateSpec (no apiVersion/kind), or a whole object of another kind;
    each trial runs as one such workload made from it."""

    model_config = ConfigDict(json_schema_extra=cel(
        ("has(self.apiVersion) == has(self.kind)", "set both apiVersion and kind, or neither",
         ".kind"),
        (f"!has(self.kind) || {_supported_kinds()}",
         "kind must be Job (batch/v1), JobSet (jobset.x-k8s.io/v1alpha2), TrainJob "
         "(trainer.kubeflow.org/v1alpha1) or PyTorchJob (kubeflow.org/v1)", ".kind"),
        ("(has(self.kind) && self.kind != 'Job') || has(self.spec.template)",
         "a Job needs spec.template", ".spec"),
    ))
    api_version: str | None = Field(
        None, min_length=1, max_length=253,
        description="With kind: the workload's API version (e.g. jobset.x-k8s.io/v1alpha2). "
        "Absent: a batch/v1 Job template.",
    )
    kind: str | None = Field(
        None, min_length=1, max_length=63,
        description="Job (default), JobSet, TrainJob or PyTorchJob. The operator must be "
        "allowed to create it (the chart's trialKinds) and its CRD installed.",
    )
    metadata: dict[str, Any] | None = Field(
        None, description="Labels and annotations for each trial's workload."
    )
    spec: JobSpec = Field(
        description="The workload's spec: a Job's (backoffLimit defaults to 0), or the spec of "
        "the kind named. ${params.<name>} is replaced, and the CARBS_* env added, in every "
        "container of every replica of a kind other than Job (a Job: its first container)."
    )
    success_condition: str | None = Field(
        None, min_length=1, max_length=2048,
        description="CEL over the workload object (`self`) that is true once it succeeded. "
        "Default per kind: its Complete (Job, TrainJob), Completed (JobSet) or Succeeded "
        "(PyTorchJob) condition is True. Guard fields with has(): an expression that reads "
        "a missing field is false.",
    )
    failure_condition: str | None = Field(
        None, min_length=1, max_length=2048,
        description="CEL over the workload object that is true once it failed. Default: "
        "its Failed condition is True.",
    )
    primary_pod_labels: dict[str, str] | None = Field(
        None, max_length=16,
        description="Labels of the pod holding the result (annotation, termination message, "
        "log). Default per kind: rank 0 (JobSet and TrainJob: job index 0, completion index "
        "0; PyTorchJob: the Master replica; Job: its pod).",
    )
    primary_container_name: str | None = Field(
        None, min_length=1, max_length=63,
        description="The container holding the result, and the one `carbs run` runs "
        "locally. Default: pytorch (PyTorchJob), node (TrainJob's trainer), else the first "
        "container.",
    )

    @model_validator(mode="after")
    def _check_kind(self) -> TrialTemplate:
        problems: list[tuple[str, str]] = []
        if (self.api_version is None) != (self.kind is None):
            problems.append(("kind", "set both apiVersion and kind, or neither"))
            raise_problems(problems)
        dumped = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        try:
            row = kind_of(dumped)
        except WorkloadError as error:
            raise_problems([("kind", str(error))])
            return self
        if row.is_job and self.spec.template is None:
            problems.append(("spec.template", "required field is missing"))
        spec = dumped.get("spec", {})
        if not row.is_job and not containers(row, spec):
            problems.append(("spec", f"a {row.kind} needs at least one container"))
        name = self.primary_container_name
        if name is not None and find_primary_container(row, spec, name) is None:
            names = sorted({container_name(row, p, c) for p, c in containers(row, spec)})
            problems.append(("primaryContainerName",
                             f"names no container of the template (containers: "
                             f"{', '.join(names) or 'none'})"))
        for field_name in ("successCondition", "failureCondition"):
            expression = dumped.get(field_name)
            problem = cel_problem(expression) if expression else None
            if problem:
                problems.append((field_name, problem))
        raise_problems(problems)
        return self
