"""The trial template of a study: the batch/v1 JobTemplateSpec each trial runs from,
modelled only as far as this project reads it (other fields are kept as written)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, model_validator

from carbs_operator.models.base import Int, LooseModel, cel, raise_problems


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

    template: PodTemplate = Field(description="Pod template of the trial.")
    active_deadline_seconds: Int | None = Field(
        None, ge=1, description="Fail a trial that runs longer than this many seconds."
    )


class TrialTemplate(LooseModel):
    """A batch/v1 JobTemplateSpec; each trial runs as one Job made from it."""

    metadata: dict[str, Any] | None = Field(
        None, description="Labels and annotations for each trial's Job."
    )
    spec: JobSpec = Field(description="Job spec; backoffLimit defaults to 0.")
