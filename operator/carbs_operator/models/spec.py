"""The study spec: objective, cost, search space, budget, engine settings and completion
policy, with the enums they use. The trial template it embeds is in job_template.py; its
placeholders are checked by carbs_operator.template, which imports no model at runtime."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from carbs_operator.models.base import (
    DNS_SUBDOMAIN_PATTERN,
    MAX_PARAMETERS,
    MAX_TRIALS_LIMIT,
    Bool,
    Float,
    Int,
    Model,
    cel,
    immutable,
    raise_problems,
)
from carbs_operator.models.collector import MetricsCollector
from carbs_operator.models.early_stopping import EarlyStopping
from carbs_operator.models.job_template import TrialTemplate
from carbs_operator.models.parameter import Parameter, ParameterSpace
from carbs_operator.models.tracking import Tracking
from carbs_operator.template import template_problems

# Parameter and ParameterSpace live in parameter.py beside their CEL rules; re-exported.
__all__ = ["Parameter", "ParameterSpace"]


class Direction(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


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


class Budget(Model):
    """When the study stops."""

    max_trials: Int = Field(
        ge=1, le=MAX_TRIALS_LIMIT,
        description="Complete the study once this many trials have finished.",
    )
    max_failed_trials: Int | None = Field(
        None, ge=0, le=MAX_TRIALS_LIMIT,
        description="Fail the study once more than this many trials have failed. Default: "
        "no limit, as in Katib when maxFailedTrialCount is left out: failed trials count "
        "toward maxTrials, so the study still ends there.",
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

    seed: Int = Field(
        0, ge=0, le=2**32 - 1, json_schema_extra=immutable("carbs.seed"),
        description="Random seed of the engine. Default 0. Immutable.",
    )
    resample_frequency: Int = Field(
        5, ge=0, json_schema_extra=immutable("carbs.resampleFrequency"),
        description="Every this many suggestions, re-run a Pareto point to measure noise; "
        "a re-run is skipped while the noise measured so far is under a quarter of the "
        "median step between adjacent frontier points. 0 disables. Default 5. Immutable.",
    )
    initial_search_radius: Float = Field(
        0.3, gt=0,
        description="Radius, in the scaled search space, of the first samples around the "
        "search center. Default 0.3.",
    )
    num_random_samples: Int = Field(
        4, ge=1, json_schema_extra=immutable("carbs.numRandomSamples"),
        description="Suggestions drawn at random before the model is used. Default 4. Immutable.",
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


class WarmStart(Model):
    """Seed the engine with other studies' finished trials (same namespace, or the same
    state directory for `carbs run`), matched by parameter name."""

    from_studies: list[Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, max_length=253)]] = (
        Field(
            min_length=1, max_length=16,
            description="Names of the studies whose finished trials seed this one. A trial "
            "that lacks one of this study's parameters, or the metrics its objective and cost "
            "read, is skipped (counted in status.warmStart.skippedTrials).",
        )
    )


class StudySpec(Model):
    """The search: space, objective, cost, budget and how to run a trial."""

    objective: Objective = Field(
        json_schema_extra=immutable("objective"),
        description="The metric to optimize and its direction. Immutable.",
    )
    cost: Cost = Field(
        json_schema_extra=immutable("cost"),
        description="What a trial costs: a reported metric or a measured source. Immutable.",
    )
    parameters: list[Parameter] = Field(
        min_length=1, max_length=MAX_PARAMETERS,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"],
                           **immutable("parameters")},
        description="The search space: one entry per hyperparameter, names unique. Immutable.",
    )
    budget: Budget = Field(description="When to stop.")
    parallelism: Int = Field(1, ge=1, le=1000, description="Trials running at once. Default 1.")
    max_suggestion_cost: Float | None = Field(
        None, gt=0, description="Never suggest a trial predicted to cost more than this. "
        "Default: a tenth of budget.maxTotalCost when that is set (so at least ten trials fit "
        "at the dearest cost the study explores), else no limit."
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
    metrics_collector: MetricsCollector = Field(
        default_factory=MetricsCollector, json_schema_extra={"default": {}},
        description="Where each trial's result is read from: Report (default; what "
        "carbs_operator.report() published) or StdOut (the primary container's output, "
        "format Text or JSON).",
    )
    early_stopping: EarlyStopping | None = Field(
        None,
        description="Stop running trials that are plainly worse than the study at the same "
        "cost (rule Frontier) or step (rule Median), read from the progress lines "
        "carbs_operator.report_progress() prints. A stopped trial's phase is EarlyStopped: "
        "it counts toward maxTrials and its cost so far toward maxTotalCost, never as a "
        "failure. Absent: no trial is stopped. May change while the study runs.",
    )
    warm_start: WarmStart | None = Field(
        None, json_schema_extra=immutable("warmStart"),
        description="Start from other studies' finished trials: the iterate-and-scale-up "
        "loop (run cheap, then a larger study that already knows the cheap results). "
        "Immutable once set.",
    )
    tracking: Tracking | None = Field(
        None,
        description="Experiment trackers to log the study to (MLflow, Weights & Biases): "
        "a parent run per study, a run per trial with its parameters, metrics, learning "
        "curve and frontier membership. Opt-in; a tracker that is down never fails or "
        "slows a trial. May change while the study runs.",
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
