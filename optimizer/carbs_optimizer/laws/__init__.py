"""The laws half of the engine: scaling laws read off a study's observations.

Per-parameter laws over the Pareto frontier with their intervals and verdicts (`scaling`,
`discrete`, `intervals`), the joint compute-optimal allocation fitted over every success
(`allocation_law`, `allocation`) and the one fit every reader of a study's laws shares
(`fit`), how cost follows the parameters (`cost_line`) and the
objective's own law (`objective`). The search half (`carbs_optimizer.carbs`) steers by the
joint law; the operator reads every law from here, never from the submodules.
"""

from carbs_optimizer.laws.allocation import (
    Allocation,
    ObservedAllocation,
    fit_allocation,
    observed_allocation,
    observed_scaling_laws,
)
from carbs_optimizer.laws.allocation_law import AllocationLaw
from carbs_optimizer.laws.cost_line import CostLine, fit_cost_line
from carbs_optimizer.laws.discrete import CostBand
from carbs_optimizer.laws.fit import LawFit, fit_laws
from carbs_optimizer.laws.intervals import assess_laws
from carbs_optimizer.laws.objective import ObjectiveLaw, bootstrap_law_fits, fit_objective_law
from carbs_optimizer.laws.scaling import (
    VERDICT_LAW,
    VERDICT_NO_LAW,
    VERDICT_SATURATED,
    VERDICT_TOO_FEW,
    LawVerdict,
    ScalingLaw,
    dearest_band,
    fit_scaling_laws,
    follow_law,
)

__all__ = [
    "VERDICT_LAW",
    "VERDICT_NO_LAW",
    "VERDICT_SATURATED",
    "VERDICT_TOO_FEW",
    "Allocation",
    "AllocationLaw",
    "CostBand",
    "CostLine",
    "LawFit",
    "LawVerdict",
    "ObjectiveLaw",
    "ObservedAllocation",
    "ScalingLaw",
    "assess_laws",
    "bootstrap_law_fits",
    "dearest_band",
    "fit_allocation",
    "fit_cost_line",
    "fit_laws",
    "fit_objective_law",
    "fit_scaling_laws",
    "follow_law",
    "observed_allocation",
    "observed_scaling_laws",
]
