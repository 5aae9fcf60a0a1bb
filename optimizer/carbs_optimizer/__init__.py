"""CARBS, the cost-aware Pareto-region Bayesian search engine (torch + gpytorch).

A drop-in for the reference implementation's core API (imbue-ai/carbs) minus wandb, plus
JSON state, per-instance seeding, batch suggestions and scaling-law reports.

This module is the engine's public API (`__all__`: re-exports, and `run_demo`); the laws
half has its own public surface, `carbs_optimizer.laws`. Every exception the engine raises
on purpose derives from `CarbsError`.
"""

from carbs_optimizer.acquisition import expected_improvement
from carbs_optimizer.carbs import CARBS, SamplingError
from carbs_optimizer.config import (
    CARBSParams,
    OutstandingSuggestionEstimatorEnum,
    WandbLoggingParams,
)
from carbs_optimizer.errors import CarbsError
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
    as_number,
)
from carbs_optimizer.state import StateError


def run_demo(argv: list[str] | None = None) -> int:
    """The one-minute demo (`carbs demo`; `python -m carbs_optimizer.demo`), imported only
    when run: `python -m` must find the demo module not yet imported."""
    from carbs_optimizer.demo import main

    return main(argv)


__all__ = [
    "CARBS",
    "SUGGESTION_ID_DICT_KEY",
    "VERDICT_LAW",
    "VERDICT_NO_LAW",
    "VERDICT_SATURATED",
    "VERDICT_TOO_FEW",
    "CARBSParams",
    "CarbsError",
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
    "SamplingError",
    "ScalingLaw",
    "StateError",
    "SuggestOutput",
    "SuggestionInBasic",
    "WandbLoggingParams",
    "as_number",
    "expected_improvement",
    "get_pareto_groups",
    "get_pareto_groups_conservative",
    "group_observations",
    "run_demo",
]
