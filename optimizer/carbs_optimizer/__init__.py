"""CARBS, the cost-aware Pareto-region Bayesian search engine (torch + gpytorch).

A drop-in for the reference implementation's core API (imbue-ai/carbs) minus wandb, plus
JSON state, per-instance seeding, batch suggestions and scaling-law reports.
"""

from carbs_optimizer.acquisition import expected_improvement
from carbs_optimizer.carbs import CARBS
from carbs_optimizer.config import (
    CARBSParams,
    OutstandingSuggestionEstimatorEnum,
    WandbLoggingParams,
)
from carbs_optimizer.laws.discrete import CostBand
from carbs_optimizer.laws.scaling import (
    VERDICT_LAW,
    VERDICT_NO_LAW,
    VERDICT_SATURATED,
    VERDICT_TOO_FEW,
    LawVerdict,
    ScalingLaw,
)
from carbs_optimizer.observations import (
    SUGGESTION_ID_DICT_KEY,
    ObservationInBasic,
    ObservationInParam,
    ObserveOutput,
    SuggestionInBasic,
    SuggestOutput,
)
from carbs_optimizer.pareto import (
    get_pareto_groups,
    get_pareto_groups_conservative,
    group_observations,
)
from carbs_optimizer.spaces import (
    CategoricalSpace,
    LinearSpace,
    LogitSpace,
    LogSpace,
    OrdinalSpace,
    Param,
    RealNumberSpace,
)
from carbs_optimizer.state import StateError

__all__ = [
    "CARBS",
    "SUGGESTION_ID_DICT_KEY",
    "VERDICT_LAW",
    "VERDICT_NO_LAW",
    "VERDICT_SATURATED",
    "VERDICT_TOO_FEW",
    "CARBSParams",
    "CategoricalSpace",
    "CostBand",
    "LawVerdict",
    "LinearSpace",
    "LogSpace",
    "LogitSpace",
    "ObservationInBasic",
    "ObservationInParam",
    "ObserveOutput",
    "OrdinalSpace",
    "OutstandingSuggestionEstimatorEnum",
    "Param",
    "RealNumberSpace",
    "ScalingLaw",
    "StateError",
    "SuggestOutput",
    "SuggestionInBasic",
    "WandbLoggingParams",
    "expected_improvement",
    "get_pareto_groups",
    "get_pareto_groups_conservative",
    "group_observations",
]
