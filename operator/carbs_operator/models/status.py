"""A study's status as the operator writes it: phase, conditions, trial counts, the best
trial, the Pareto frontier and the scaling laws fitted over it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from carbs_operator.models.base import (
    MAX_FRONTIER_POINTS,
    MAX_PARAMETERS,
    Float,
    Int,
    ParamValue,
    ParamValues,
    StatusModel,
)
from carbs_operator.models.spec import ParameterSpace


class StudyPhase(StrEnum):
    """Pending: accepted, no trial started yet. Running: trials are being suggested and run.
    Suspended: spec.suspend is true, no new trial starts. Succeeded: the budget (maxTrials,
    maxTotalCost) is spent or the goal reached. Failed: more than maxFailedTrials trials
    failed. Invalid: the spec has a problem the CRD schema cannot express (see conditions);
    editing the spec re-validates it. Succeeded and Failed are final."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUSPENDED = "Suspended"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    INVALID = "Invalid"

    @property
    def is_final(self) -> bool:
        return self in (StudyPhase.SUCCEEDED, StudyPhase.FAILED)


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One aspect of the object's state (the Kubernetes metav1.Condition shape)."""

    type: str = Field(min_length=1, max_length=316, description="Condition type, e.g. Valid.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(min_length=1, max_length=1024, description="CamelCase reason code.")
    message: str = Field("", max_length=32768, description="Human-readable detail.")
    last_transition_time: datetime = Field(description="When status last changed.")
    observed_generation: Int | None = Field(None, ge=0, description="Spec generation seen.")


class TrialCounts(StatusModel):
    """Trials of the study by phase."""

    total: Int = Field(0, ge=0, description="All trials created.")
    pending: Int = Field(0, ge=0, description="Created, workload not running yet.")
    running: Int = Field(0, ge=0, description="Running now.")
    succeeded: Int = Field(0, ge=0, description="Finished with a valid result.")
    failed: Int = Field(0, ge=0, description="Finished without a valid result.")
    lost: Int = Field(0, ge=0, description="Workload vanished without a result.")
    early_stopped: Int = Field(
        0, ge=0, description="Stopped by spec.earlyStopping (finished, not failed).")


class BestTrial(StatusModel):
    """The best successful trial so far."""

    name: str = Field(description="CarbsTrial name.")
    index: Int = Field(ge=0, description="Trial index.")
    params: ParamValues = Field(description="Its parameter values.")
    objective: Float = Field(description="Its objective.")
    cost: Float = Field(description="Its cost.")


class FrontierPoint(StatusModel):
    """A trial on the cost/objective Pareto frontier."""

    trial: str = Field(description="CarbsTrial name.")
    params: ParamValues = Field(description="Its parameter values.")
    objective: Float = Field(description="Its objective.")
    cost: Float = Field(description="Its cost.")


class ValueBand(StatusModel):
    """A stretch of the frontier, by cost, where a categorical or ordinal parameter keeps
    one value."""

    min_cost: Float = Field(description="Cost of the band's cheapest frontier point.")
    max_cost: Float = Field(description="Cost of the band's dearest frontier point.")
    value: ParamValue = Field(description="The value the frontier uses there.")
    points: Int = Field(ge=0, description="Frontier points in the band.")


class ScalingLawStatus(StatusModel):
    """How a parameter's best value moves with cost: along the compute-optimal path of one
    law over every trial where that law fits, else a line over the Pareto frontier."""

    parameter: str = Field(description="Parameter name.")
    space: ParameterSpace = Field(description="Space the fit is in.")
    slope: Float | None = Field(
        None,
        description="Slope of the parameter (transformed by its space: log, logit or none) "
        "against log(cost); for a log space, the power-law exponent. Absent for categorical "
        "and ordinal parameters, which have bands instead.",
    )
    intercept: Float | None = Field(None, description="Intercept of that line.")
    r2: Float | None = Field(
        None, description="Coefficient of determination of the frontier's points about the "
        "line (below 0 where a joint path passes further from them than their mean).")
    points: Int = Field(ge=0, description="Frontier points (the line's, or the r2's).")
    fit: Literal["frontier", "joint"] | None = Field(
        None, description="frontier: a robust line through the frontier's points; joint: the "
        "parameter's path under one law over every successful trial (power-law returns per "
        "cost driver, a valley per other parameter), as `carbs predict` uses.")
    bands: list[ValueBand] | None = Field(
        None, max_length=MAX_FRONTIER_POINTS,
        description="Categorical and ordinal parameters: the value the frontier uses in "
        "each cost band, cheapest first.",
    )
    interval: Annotated[list[Float], Field(min_length=2, max_length=2)] | None = Field(
        None, description="80% interval [low, high] of the slope, from the trials' scatter "
        "about the law: a slope is a law only where this excludes 0.")
    verdict: Literal["law", "no law", "saturated", "too few trials"] | None = Field(
        None, description="What the trials support: law (the interval excludes 0); no law "
        "(the parameter does not move with cost: hold it at heldValue); saturated (the "
        "objective stops improving past saturationCost: no law extrapolates beyond it); "
        "too few trials.")
    held_value: Float | None = Field(
        None, description="With verdict 'no law': the value the frontier uses.")
    saturation_cost: Float | None = Field(
        None, description="With verdict 'saturated': the cost past which the objective "
        "stops improving.")


class ScaleUp(StatusModel):
    """The predicted best parameters and objective at 10x the largest finished trial's
    cost (`carbs predict` computes the same at any cost)."""

    cost: Float = Field(gt=0, description="Cost the prediction is for.")
    params: ParamValues = Field(description="Predicted value of each parameter.")
    intervals: Annotated[
        dict[str, Annotated[list[ParamValue], Field(min_length=2, max_length=2)]],
        Field(max_length=MAX_PARAMETERS),
    ] = Field(description="Interval [low, high] of each parameter: a 90% bootstrap interval "
              "for numeric ones; the highest cost band's range for an ordinal one; the "
              "predicted choice at both ends for a categorical one.")
    objective: Float = Field(description="Predicted objective at that cost.")
    objective_interval: Annotated[list[Float], Field(min_length=2, max_length=2)] = Field(
        description="Bootstrap interval [low, high] of the objective.")
    extrapolation: Float = Field(
        gt=0, description="cost / the largest finished trial's cost.")


class WarmStartStatus(StatusModel):
    """What spec.warmStart seeded the engine with."""

    trials: Int = Field(0, ge=0, description="Finished trials of the source studies observed.")
    skipped_trials: Int = Field(
        0, ge=0, description="Finished trials skipped: they lack a parameter of this study, "
        "or the metrics its objective and cost read.",
    )
    missing_studies: list[str] = Field(
        default_factory=list, max_length=16,
        description="Source studies not found in the namespace.",
    )


class StudyStatus(StatusModel):
    """Observed state of the study, written by the operator."""

    phase: StudyPhase | None = Field(
        None, description="Pending, Running, Suspended, Succeeded, Failed or Invalid."
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
        description="Conditions; Valid carries spec problems when phase is Invalid.",
    )
    observed_generation: Int | None = Field(None, ge=0, description="Spec generation seen.")
    trials: TrialCounts = Field(default_factory=TrialCounts, description="Trial counts by phase.")
    progress: str | None = Field(None, description="Finished trials / maxTrials, e.g. 12/30.")
    total_cost: Float = Field(0.0, ge=0, description="Summed cost of finished trials.")
    best_trial: BestTrial | None = Field(None, description="Best successful trial so far.")
    pareto_frontier: list[FrontierPoint] = Field(
        default_factory=list, max_length=MAX_FRONTIER_POINTS,
        description="Cost/objective Pareto frontier, cheapest first "
        f"(at most {MAX_FRONTIER_POINTS} points).",
    )
    scaling_laws: list[ScalingLawStatus] = Field(
        default_factory=list, max_length=MAX_PARAMETERS,
        description="Per-parameter fits of best value against cost over the frontier.",
    )
    scale_up: ScaleUp | None = Field(
        None, description="Predicted parameters and objective at 10x the largest finished "
        "trial's cost, from the frontier's scaling laws (absent while the frontier is too "
        "short or flat to fit).",
    )
    start_time: datetime | None = Field(None, description="When the first trial started.")
    completion_time: datetime | None = Field(None, description="When the study completed.")
    warm_start: WarmStartStatus | None = Field(
        None, description="The trials spec.warmStart seeded the engine with."
    )
