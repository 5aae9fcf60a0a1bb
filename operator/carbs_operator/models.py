"""The CarbsStudy and CarbsTrial resources: the one definition of the manifest format.

Everything else derives from these models: the CRDs (crd.py turns them into OpenAPI with
CEL rules), `carbs validate`, the operator's reading of objects and the local runner. Each
CEL rule sits in the config of the model whose Python check it mirrors, so a reviewer sees
both halves of a rule in one place; tests run good and bad manifests through both.

Cross-field checks raise one error per model carrying (field, message) pairs under the
error type SPEC_PROBLEM; validation.py turns them into one problem per field path.
Descriptions are user documentation: they become `kubectl explain` text.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from carbs_operator.template import template_problems

GROUP: Final = "carbs.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "carbs.dev/v1alpha1"
STUDY_KIND: Final = "CarbsStudy"
TRIAL_KIND: Final = "CarbsTrial"

PARAMETER_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
MAX_PARAMETERS = 64
MAX_TRIALS_LIMIT = 100_000
MAX_FRONTIER_POINTS = 50
# A trial's Job is named `<study>-<index>`, and Job names end up in 63-character pod labels.
MAX_STUDY_NAME_LENGTH = 52
MAX_TRIAL_NAME_LENGTH = 63
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
SPEC_PROBLEM = "carbs_spec_problem"


def _number_only(value: Any) -> Any:
    """Kubernetes keeps `"0.1"` and `true` a string and a boolean, never numbers; coercing
    them here would let `carbs validate` pass what the API server rejects."""
    if isinstance(value, bool | str):
        kind = "boolean" if isinstance(value, bool) else "string"
        raise PydanticCustomError("number_type", "must be a number, not a {kind}", {"kind": kind})
    return value


Float = Annotated[float, BeforeValidator(_number_only)]
Int = Annotated[int, BeforeValidator(_number_only)]
Bool = Annotated[bool, Field(strict=True)]
# Bounded so that CEL's cost estimate for `self == oldSelf` on a trial spec stays small.
ParamValues = Annotated[dict[str, Float], Field(max_length=MAX_PARAMETERS)]


def fmt(value: float) -> str:
    """A number as the user wrote it: `5`, not `5.0`; other floats exactly (repr)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def raise_problems(problems: list[tuple[str, str]]) -> None:
    """Report cross-field problems as one pydantic error that keeps each field's path."""
    if problems:
        summary = "; ".join(f"{path}: {msg}" if path else msg for path, msg in problems)
        context = {"summary": summary, "problems": problems}
        raise PydanticCustomError(SPEC_PROBLEM, "{summary}", context)


def cel(*items: tuple[str, str, str]) -> dict[str, Any]:
    """CEL rules as (rule, message, fieldPath), placed in a model's JSON schema for the CRD."""
    out = []
    for rule, message, field_path in items:
        entry = {"rule": rule, "message": message}
        if field_path:
            entry["fieldPath"] = field_path
        out.append(entry)
    return {"x-kubernetes-validations": out}


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python, finite numbers, and typos rejected
    (the API server would silently prune an unknown field, losing the user's intent)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_unset(cls, data: Any) -> Any:
        """Kubernetes prunes `null` from non-nullable fields; doing the same keeps us in step."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class LooseModel(Model):
    """A Kubernetes object we model only in part: unknown fields are kept as written."""

    model_config = ConfigDict(extra="allow")


class StatusModel(Model):
    """Status written by a possibly newer operator: unknown fields are ignored, not errors."""

    model_config = ConfigDict(extra="ignore")


class ObjectMeta(LooseModel):
    """Standard object metadata; only the fields this project reads are typed."""

    name: str | None = Field(
        None, max_length=253, pattern=DNS_SUBDOMAIN_PATTERN, description="Object name."
    )
    namespace: str | None = Field(None, description="Namespace of the object.")
    labels: dict[str, str] | None = Field(None, description="Labels.")
    annotations: dict[str, str] | None = Field(None, description="Annotations.")
    generation: int | None = Field(None, description="Spec generation, set by the API server.")


# ----------------------------------------------------------------------------- study spec


class Direction(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class ParameterSpace(StrEnum):
    LINEAR = "linear"
    LOG = "log"
    LOGIT = "logit"


class CostSource(StrEnum):
    RUNTIME_SECONDS = "runtimeSeconds"
    GPU_SECONDS = "gpuSeconds"


class SuggestionEstimator(StrEnum):
    THOMPSON = "THOMPSON"
    MEAN = "MEAN"


class RunningTrialsPolicy(StrEnum):
    DELETE = "delete"
    KEEP = "keep"


class Objective(Model):
    """What the search optimizes."""

    metric: str = Field(
        min_length=1, max_length=253,
        description="Key of the trial's reported result to optimize, e.g. val_loss.",
    )
    direction: Direction = Field(description="minimize or maximize the metric.")


class Cost(Model):
    """What a trial costs; CARBS trades the objective against it along a Pareto frontier."""

    model_config = ConfigDict(json_schema_extra=cel(
        ("has(self.metric) != has(self.source)", "set exactly one of metric and source", ""),
    ))
    metric: str | None = Field(
        None, min_length=1, max_length=253,
        description="Key of the trial's reported result that holds its cost (e.g. flops); "
        "must be > 0. Set this or source, not both.",
    )
    source: CostSource | None = Field(
        None,
        description="Measure cost instead of reading it: runtimeSeconds (the trial's wall "
        "time) or gpuSeconds (wall time x GPUs in the first container's limits). "
        "Set this or metric, not both.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Cost:
        if (self.metric is None) == (self.source is None):
            raise_problems([("", "set exactly one of metric and source")])
        return self


class Parameter(Model):
    """One search dimension."""

    model_config = ConfigDict(json_schema_extra=cel(
        ("self.min < self.max", "min must be less than max", ".min"),
        ("!has(self.searchCenter) || "
         "(self.searchCenter >= self.min && self.searchCenter <= self.max)",
         "searchCenter must lie within [min, max]", ".searchCenter"),
        ("self.space != 'log' || self.min > 0.0", "a log space needs min > 0", ".min"),
        ("self.space != 'logit' || (self.min > 0.0 && self.max < 1.0)",
         "a logit space needs 0 < min < max < 1", ".min"),
        ("self.space != 'logit' || !has(self.integer) || !self.integer",
         "a logit space cannot be integer", ".integer"),
        ("!has(self.roundingFactor) || self.roundingFactor == 1 || "
         "(has(self.integer) && self.integer)",
         "roundingFactor applies only to integer parameters", ".roundingFactor"),
    ))
    name: str = Field(
        pattern=PARAMETER_NAME_PATTERN, max_length=63,
        description="Name ([a-z][a-z0-9_]*), unique in the study. A trial sees it as "
        "${params.<name>} and as env CARBS_PARAM_<NAME>.",
    )
    space: ParameterSpace = Field(
        description="Search space: linear (additive steps), log (multiplicative steps, for "
        "rates and sizes; min > 0) or logit (for fractions such as dropout; 0 < min < max < 1).",
    )
    min: Float = Field(description="Lower bound, inclusive.")
    max: Float = Field(description="Upper bound, inclusive; greater than min.")
    scale: Float = Field(
        1.0, gt=0,
        description="Step size in the search space: larger lets the search move further "
        "from the center. Default 1.",
    )
    integer: Bool = Field(False, description="Suggest whole numbers only (not for logit).")
    rounding_factor: Int = Field(
        1, ge=1,
        description="For integer parameters: suggest multiples of this, e.g. 8 for layer "
        "widths. Default 1.",
    )
    search_center: Float | None = Field(
        None,
        description="Where the search starts, within [min, max]. Default: the middle of the "
        "range in the search space (the geometric mean for log).",
    )

    @model_validator(mode="after")
    def _check_bounds(self) -> Parameter:
        low, high, problems = self.min, self.max, []
        if not low < high:
            problems.append(("min", f"must be less than max (got {fmt(low)} >= {fmt(high)})"))
        center = self.search_center
        if center is not None and not low <= center <= high:
            problems.append(("searchCenter", f"must lie within [min, max] = "
                             f"[{fmt(low)}, {fmt(high)}] (got {fmt(center)})"))
        if self.space is ParameterSpace.LOG and low <= 0:
            problems.append(("min", f"must be > 0 for a log space (got {fmt(low)})"))
        if self.space is ParameterSpace.LOGIT:
            if low <= 0:
                problems.append(("min", f"must be > 0 for a logit space (got {fmt(low)})"))
            if high >= 1:
                problems.append(("max", f"must be < 1 for a logit space (got {fmt(high)})"))
            if self.integer:
                problems.append(("integer", "a logit space cannot be integer"))
        if self.rounding_factor != 1 and not self.integer:
            problems.append(("roundingFactor", "applies only to integer parameters; "
                             "set integer: true or remove it"))
        raise_problems(problems)
        return self

    def effective_search_center(self) -> float:
        """The search center, defaulting to the middle of the range in the search space."""
        if self.search_center is not None:
            return self.search_center
        if self.space is ParameterSpace.LOG:
            return math.sqrt(self.min * self.max)
        if self.space is ParameterSpace.LOGIT:
            mid = (math.log(self.min / (1 - self.min)) + math.log(self.max / (1 - self.max))) / 2
            return 1 / (1 + math.exp(-mid))
        return (self.min + self.max) / 2


class Budget(Model):
    """When the study stops."""

    max_trials: Int = Field(
        ge=1, le=MAX_TRIALS_LIMIT,
        description="Complete the study once this many trials have finished.",
    )
    max_failed_trials: Int = Field(
        ge=0, le=MAX_TRIALS_LIMIT,
        description="Fail the study once more than this many trials have failed.",
    )
    max_total_cost: Float | None = Field(
        None, gt=0, description="Complete the study once the summed cost of trials reaches this."
    )
    goal: Float | None = Field(
        None,
        description="Complete the study once a trial's objective reaches this "
        "(<= when minimizing, >= when maximizing).",
    )


class CarbsSettings(Model):
    """CARBS engine settings; the defaults are the reference implementation's."""

    seed: Int = Field(0, ge=0, le=2**32 - 1, description="Random seed of the engine. Default 0.")
    resample_frequency: Int = Field(
        5, ge=0,
        description="Every this many suggestions, re-run a Pareto point to measure noise; "
        "0 disables. Default 5.",
    )
    initial_search_radius: Float = Field(
        0.3, gt=0,
        description="Radius, in the scaled search space, of the first samples around the "
        "search center. Default 0.3.",
    )
    num_random_samples: Int = Field(
        4, ge=1, description="Suggestions drawn at random before the model is used. Default 4."
    )
    exploration_bias: Float = Field(
        1.0, ge=0, description="Weight of exploration against exploitation. Default 1.0."
    )
    min_pareto_cost_fraction: Float = Field(
        0.2, ge=0, lt=1,
        description="Skip this cheapest fraction of the Pareto frontier when choosing where "
        "to search. Default 0.2.",
    )
    outstanding_suggestion_estimator: SuggestionEstimator = Field(
        SuggestionEstimator.THOMPSON,
        description="How trials still running are imputed when suggesting more: THOMPSON "
        "(a posterior sample) or MEAN. Default THOMPSON.",
    )
    max_gp_training_points: Int | None = Field(
        None, ge=1,
        description="Fit the surrogate model on at most this many observations, bounding "
        "suggestion time. Default: no limit.",
    )


class CompletionPolicy(Model):
    """What happens when the study reaches its budget or goal."""

    running_trials: RunningTrialsPolicy = Field(
        RunningTrialsPolicy.DELETE,
        description="Trials still running when the study completes: delete (stop them and "
        "delete their Jobs, saving their cost) or keep (let them finish; their results are "
        "recorded, no new trial starts). Default delete.",
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


class StudySpec(Model):
    """The search: space, objective, cost, budget and how to run a trial."""

    objective: Objective = Field(description="The metric to optimize and its direction.")
    cost: Cost = Field(description="What a trial costs: a reported metric or a measured source.")
    parameters: list[Parameter] = Field(
        min_length=1, max_length=MAX_PARAMETERS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="The search space: one entry per hyperparameter, names unique.",
    )
    budget: Budget = Field(description="When to stop.")
    parallelism: Int = Field(1, ge=1, le=1000, description="Trials running at once. Default 1.")
    max_suggestion_cost: Float | None = Field(
        None, gt=0, description="Never suggest a trial predicted to cost more than this."
    )
    suspend: Bool = Field(False, description="Start no new trials while true.")
    carbs: CarbsSettings = Field(
        default_factory=CarbsSettings, json_schema_extra={"default": {}},
        description="CARBS engine settings.",
    )
    completion_policy: CompletionPolicy = Field(
        default_factory=CompletionPolicy, json_schema_extra={"default": {}},
        description="What happens to running trials when the study completes.",
    )
    trial_template: TrialTemplate = Field(
        description="A batch/v1 JobTemplateSpec for each trial. ${params.<name>} in the first "
        "container's command, args and env values is replaced by the trial's value.",
    )

    @model_validator(mode="after")
    def _check_names_and_template(self) -> StudySpec:
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        for i, param in enumerate(self.parameters):
            if param.name in seen:
                problems.append((f"parameters[{i}].name", f"duplicate name {param.name!r}"))
            seen.add(param.name)
        dumped = self.trial_template.model_dump(by_alias=True, exclude_none=True)
        problems += template_problems(dumped, seen, prefix="trialTemplate")
        raise_problems(problems)
        return self

    def parameter(self, name: str) -> Parameter:
        """The declared parameter called `name` (KeyError if none)."""
        for param in self.parameters:
            if param.name == name:
                return param
        raise KeyError(name)


# ------------------------------------------------------------------------------- status


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


class ScalingLaw(StatusModel):
    """How a parameter's best value moves with cost, fitted over the Pareto frontier."""

    parameter: str = Field(description="Parameter name.")
    space: ParameterSpace = Field(description="Space the fit is in.")
    slope: Float = Field(
        description="Slope of the parameter (transformed by its space: log, logit or none) "
        "against log(cost); for a log space, the power-law exponent.",
    )
    intercept: Float = Field(description="Intercept of that line.")
    r2: Float = Field(description="Coefficient of determination of the fit.")
    points: Int = Field(ge=0, description="Frontier points the fit used.")


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
    scaling_laws: list[ScalingLaw] = Field(
        default_factory=list, max_length=MAX_PARAMETERS,
        description="Per-parameter fits of best value against cost over the frontier.",
    )
    start_time: datetime | None = Field(None, description="When the first trial started.")
    completion_time: datetime | None = Field(None, description="When the study completed.")


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
    """Lost: the workload vanished (Job deleted, node gone) without leaving a result."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    LOST = "Lost"

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


class TrialStatus(StatusModel):
    """Observed state of one trial."""

    phase: TrialPhase | None = Field(
        None, description="Pending, Running, Succeeded, Failed or Lost."
    )
    metrics: dict[str, Float] | None = Field(None, description="The result the trial reported.")
    objective: Float | None = Field(None, description="Objective taken from the metrics.")
    cost: Float | None = Field(None, description="Cost: reported metric or measured source.")
    runtime_seconds: Float | None = Field(None, ge=0, description="Wall time of the workload.")
    start_time: datetime | None = Field(None, description="When the workload started.")
    completion_time: datetime | None = Field(None, description="When the workload finished.")
    failure_reason: str | None = Field(None, description="Why the trial failed or was lost.")
    job_name: str | None = Field(None, description="Job running the trial (on a cluster).")


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
