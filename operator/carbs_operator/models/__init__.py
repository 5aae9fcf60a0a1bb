"""The CarbsStudy and CarbsTrial resources: the one definition of the manifest format.

Everything else derives from these models: the CRDs (crd.py turns them into OpenAPI with
CEL rules), `carbs validate`, the operator's reading of objects and the local runner. Each
CEL rule sits in the config of the model whose Python check it mirrors, so a reviewer sees
both halves of a rule in one place; tests run good and bad manifests through both.

Cross-field checks raise one error per model carrying (field, message) pairs under the
error type SPEC_PROBLEM; validation.py turns them into one problem per field path.
Descriptions are user documentation: they become `kubectl explain` text.

Modules: base (constants, limits, base models, number types, helpers), spec (the study
spec), early_stopping (spec.earlyStopping), job_template (the trial's Job template), status
(the study's status) and resources (CarbsStudy, CarbsTrial and the trial's spec and
status). Import from this package.
"""

from carbs_operator.models.base import (
    API_VERSION,
    DNS_SUBDOMAIN_PATTERN,
    GROUP,
    MAX_FRONTIER_POINTS,
    MAX_PARAMETERS,
    MAX_STUDY_NAME_LENGTH,
    MAX_TRIAL_NAME_LENGTH,
    MAX_TRIALS_LIMIT,
    PARAMETER_NAME_PATTERN,
    SPEC_PROBLEM,
    STUDY_KIND,
    TRIAL_KIND,
    VERSION,
    Bool,
    Float,
    Int,
    LooseModel,
    Model,
    ParamValue,
    ParamValues,
    StatusModel,
    cel,
    fmt,
    raise_problems,
)
from carbs_operator.models.early_stopping import EarlyStopping, StoppingRule
from carbs_operator.models.job_template import (
    Container,
    EnvVar,
    JobSpec,
    PodSpec,
    PodTemplate,
    TrialTemplate,
)
from carbs_operator.models.resources import (
    CarbsStudy,
    CarbsTrial,
    EarlyStop,
    LearningCurvePoint,
    ObjectMeta,
    Suggestion,
    SuggestionKind,
    TrialPhase,
    TrialSpec,
    TrialStatus,
)
from carbs_operator.models.spec import (
    Budget,
    CarbsSettings,
    CompletionPolicy,
    Cost,
    CostSource,
    Direction,
    Objective,
    Parameter,
    ParameterSpace,
    RunningTrialsPolicy,
    StudySpec,
    SuggestionEstimator,
)
from carbs_operator.models.status import (
    BestTrial,
    Condition,
    ConditionStatus,
    FrontierPoint,
    ScaleUp,
    ScalingLawStatus,
    StudyPhase,
    StudyStatus,
    TrialCounts,
    ValueBand,
)

__all__ = [
    "API_VERSION",
    "DNS_SUBDOMAIN_PATTERN",
    "GROUP",
    "MAX_FRONTIER_POINTS",
    "MAX_PARAMETERS",
    "MAX_STUDY_NAME_LENGTH",
    "MAX_TRIALS_LIMIT",
    "MAX_TRIAL_NAME_LENGTH",
    "PARAMETER_NAME_PATTERN",
    "SPEC_PROBLEM",
    "STUDY_KIND",
    "TRIAL_KIND",
    "VERSION",
    "BestTrial",
    "Bool",
    "Budget",
    "CarbsSettings",
    "CarbsStudy",
    "CarbsTrial",
    "CompletionPolicy",
    "Condition",
    "ConditionStatus",
    "Container",
    "Cost",
    "CostSource",
    "Direction",
    "EarlyStop",
    "EarlyStopping",
    "EnvVar",
    "Float",
    "FrontierPoint",
    "Int",
    "JobSpec",
    "LearningCurvePoint",
    "LooseModel",
    "Model",
    "ObjectMeta",
    "Objective",
    "ParamValue",
    "ParamValues",
    "Parameter",
    "ParameterSpace",
    "PodSpec",
    "PodTemplate",
    "RunningTrialsPolicy",
    "ScaleUp",
    "ScalingLawStatus",
    "StatusModel",
    "StoppingRule",
    "StudyPhase",
    "StudySpec",
    "StudyStatus",
    "Suggestion",
    "SuggestionEstimator",
    "SuggestionKind",
    "TrialCounts",
    "TrialPhase",
    "TrialSpec",
    "TrialStatus",
    "TrialTemplate",
    "ValueBand",
    "cel",
    "fmt",
    "raise_problems",
]
