"""spec.earlyStopping: stop a running trial that is plainly worse than the study already is.

The manifest side only (fields, defaults, CEL). The rules themselves are pure functions in
carbs_operator.early_stopping, used by both runtimes. Absent = no trial is ever stopped.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from carbs_operator.models.base import Float, Int, Model


class StoppingRule(StrEnum):
    MEDIAN = "Median"
    FRONTIER = "Frontier"


class EarlyStopping(Model):
    """When a running trial may be stopped early, and by which rule."""

    rule: StoppingRule = Field(
        StoppingRule.FRONTIER,
        description="Frontier (default): stop a trial whose objective at its cost so far is "
        "clearly worse than a robust fit of what the study reaches at that cost. Median: "
        "stop a trial whose objective is worse than the median of the other trials at the "
        "same step (Katib's median stopping).",
    )
    min_trials: Int = Field(
        5, ge=1, le=10_000,
        description="Finished trials the study needs before any trial is stopped. Default 5.",
    )
    grace_fraction: Float = Field(
        0.25, ge=0.0, le=1.0,
        description="A trial runs at least this fraction of its own predicted cost (of its "
        "peers' steps where no cost is known) before it may be stopped. Default 0.25.",
    )
    margin: Float = Field(
        0.1, ge=0.0, le=10.0,
        description="How much worse than the rule's reference a trial must be to be stopped, "
        "as a fraction of the spread of the study's objectives. Default 0.1.",
    )
