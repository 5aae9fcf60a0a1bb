"""The two resources, CarbsStudy and CarbsTrial, with their object metadata and the
trial's spec and status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from carbs_operator.learning_curves import MAX_CURVE_POINTS
from carbs_operator.models.base import (
    API_VERSION,
    DNS_SUBDOMAIN_PATTERN,
    MAX_STUDY_NAME_LENGTH,
    MAX_TRIAL_NAME_LENGTH,
    STUDY_KIND,
    TRIAL_KIND,
    Float,
    Int,
    LooseModel,
    Model,
    ParamValues,
    StatusModel,
    cel,
    raise_problems,
)
from carbs_operator.models.spec import StudySpec
from carbs_operator.models.status import StudyStatus


class ObjectMeta(LooseModel):
    """Standard object metadata; only the fields this project reads are typed."""

    name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Object name."
    )
    namespace: str | None = Field(None, description="Namespace of the object.")
    labels: dict[str, str] | None = Field(None, description="Labels.")
    annotations: dict[str, str] | None = Field(None, description="Annotations.")
    generation: int | None = Field(None, description="Spec generation, set by the API server.")


class CarbsStudy(Model):
    """A CARBS hyperparameter search: the operator runs one Job per trial until the budget
    is spent, keeping the cost/objective Pareto frontier in status."""

    model_config = ConfigDict(json_schema_extra=cel(
        (f"!has(self.metadata.name) || size(self.metadata.name) <= {MAX_STUDY_NAME_LENGTH}",
         f"a study name is at most {MAX_STUDY_NAME_LENGTH} characters (trial Jobs are named "
         "<study>-<index>)", ""),
    ))
    api_version: Literal["carbs.dev/v1alpha1"] = Field(API_VERSION, description="API version.")
    kind: Literal["CarbsStudy"] = Field(STUDY_KIND, description="Kind.")
    metadata: ObjectMeta = Field(description="Object metadata.")
    spec: StudySpec = Field(description="The search to run.")
    status: StudyStatus | None = Field(None, description="Observed state, written by the operator.")

    @model_validator(mode="after")
    def _check_name(self) -> CarbsStudy:
        _check_name(self.metadata, MAX_STUDY_NAME_LENGTH, "trial Jobs are named <study>-<index>")
        return self


def _check_name(metadata: ObjectMeta, limit: int, why: str) -> None:
    name = metadata.name
    if name is None:
        raise_problems([("metadata.name", "required field is missing")])
    elif len(name) > limit:
        raise_problems([("metadata.name", f"at most {limit} characters, since {why} "
                         f"(got {len(name)})")])


# ------------------------------------------------------------------------------- trials


class SuggestionKind(StrEnum):
    RANDOM = "random"
    RESAMPLE = "resample"
    BAYESIAN = "bayesian"


class TrialPhase(StrEnum):
    """Lost: the workload vanished (Job deleted, node gone) without leaving a result.
    EarlyStopped: spec.earlyStopping ended it while it ran; finished, never a failure."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    LOST = "Lost"
    EARLY_STOPPED = "EarlyStopped"

    @property
    def is_finished(self) -> bool:
        return self not in (TrialPhase.PENDING, TrialPhase.RUNNING)


class Suggestion(Model):
    """Where the engine's suggestion came from."""

    suggestion_id: str = Field(
        min_length=1, max_length=253, description="The engine's suggestion id."
    )
    kind: SuggestionKind = Field(
        description="random (initial samples), resample (a Pareto point re-run to measure "
        "noise) or bayesian (chosen by the model).",
    )
    predicted_objective: Float | None = Field(None, description="Model's predicted objective.")
    predicted_cost: Float | None = Field(None, description="Model's predicted cost.")


class TrialSpec(Model):
    """One suggested point of a study, immutable once created."""

    model_config = ConfigDict(json_schema_extra=cel(
        ("self == oldSelf", "a trial's spec is immutable; create a new trial instead", ""),
    ))

    study: str = Field(min_length=1, max_length=MAX_STUDY_NAME_LENGTH, description="Study name.")
    index: Int = Field(ge=0, description="0-based index in the study; named <study>-<index>.")
    params: ParamValues = Field(description="Parameter values, by name.")
    suggestion: Suggestion | None = Field(None, description="Engine metadata of the suggestion.")


class LearningCurvePoint(StatusModel):
    """One progress point of a trial, as report_progress() printed it."""

    step: Int = Field(ge=0, description="The trainer's step (an epoch, an optimizer step).")
    objective: Float = Field(description="The objective metric at that step.")
    cost: Float | None = Field(
        None, ge=0, description="Cost spent so far: the cost metric printed on the same line, "
        "or the measured runtime/GPU seconds when it was read. Absent when unknown.",
    )


class EarlyStop(StatusModel):
    """Why spec.earlyStopping stopped the trial, and the point it was stopped at."""

    reason: str = Field(min_length=1, max_length=1024, description="The rule's reason.")
    step: Int = Field(ge=0, description="Step of the last progress point before the stop.")
    objective: Float = Field(description="The objective at that point.")
    cost: Float | None = Field(None, ge=0, description="Cost spent so far at that point.")
    time: datetime | None = Field(None, description="When the stop was decided.")


class TrialStatus(StatusModel):
    """Observed state of one trial."""

    phase: TrialPhase | None = Field(
        None, description="Pending, Running, Succeeded, Failed, Lost or EarlyStopped."
    )
    metrics: dict[str, Float] | None = Field(None, description="The result the trial reported.")
    objective: Float | None = Field(None, description="Objective taken from the metrics.")
    cost: Float | None = Field(None, description="Cost: reported metric or measured source.")
    runtime_seconds: Float | None = Field(None, ge=0, description="Wall time of the workload.")
    start_time: datetime | None = Field(None, description="When the workload started.")
    completion_time: datetime | None = Field(None, description="When the workload finished.")
    failure_reason: str | None = Field(None, description="Why the trial failed or was lost.")
    job_name: str | None = Field(None, description="Job running the trial (on a cluster).")
    learning_curve: list[LearningCurvePoint] | None = Field(
        None, max_length=MAX_CURVE_POINTS,
        description="Progress points the trial reported (carbs_operator.report_progress), "
        f"oldest first; at most {MAX_CURVE_POINTS}, thinned evenly (first and last kept).",
    )
    last_progress_time: datetime | None = Field(
        None, description="When the last progress point was read.")
    progress_warning: str | None = Field(
        None, max_length=1024,
        description="Why some progress output was ignored: malformed lines, output over "
        "the read limit, or progress that stopped arriving.",
    )
    early_stop: EarlyStop | None = Field(
        None, description="Set when spec.earlyStopping stopped the trial (phase "
        "EarlyStopped): the reason and the progress point it was stopped at.",
    )


class CarbsTrial(Model):
    """One trial of a CarbsStudy, created by the operator before its Job."""

    model_config = ConfigDict(json_schema_extra=cel(
        (f"!has(self.metadata.name) || size(self.metadata.name) <= {MAX_TRIAL_NAME_LENGTH}",
         f"a trial name is at most {MAX_TRIAL_NAME_LENGTH} characters", ""),
    ))
    api_version: Literal["carbs.dev/v1alpha1"] = Field(API_VERSION, description="API version.")
    kind: Literal["CarbsTrial"] = Field(TRIAL_KIND, description="Kind.")
    metadata: ObjectMeta = Field(description="Object metadata.")
    spec: TrialSpec = Field(description="The trial's parameters.")
    status: TrialStatus | None = Field(None, description="Observed state.")

    @model_validator(mode="after")
    def _check_name(self) -> CarbsTrial:
        _check_name(self.metadata, MAX_TRIAL_NAME_LENGTH, "it names the trial's Job")
        return self
