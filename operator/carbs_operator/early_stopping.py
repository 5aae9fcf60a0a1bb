"""Early-stopping rules: pure functions of one running trial's learning curve and its peers.

Both runtimes (the local runner and the operator) call `decide()` on each poll of a running
trial and stop the trial when it returns a decision. Nothing here does I/O.

CONTRACT (fixed by the lead; the implementation is the early-stopping helper's):
- `CurvePoint(step, objective, cost)`: one progress point; `objective` is the study's
  objective metric as reported (its direction is given separately), `cost` the trial's cost
  so far in the study's cost unit, None when the runtime cannot know it.
- `Peer(curve, objective, cost)`: another trial of the study; `objective`/`cost` are its final
  result when it succeeded, None otherwise (still running, stopped, failed).
- `decide(settings, direction, curve, predicted_cost, peers) -> StopDecision | None`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from carbs_operator.models import Direction
from carbs_operator.models.early_stopping import EarlyStopping


@dataclass(frozen=True)
class CurvePoint:
    step: int
    objective: float
    cost: float | None = None


@dataclass(frozen=True)
class Peer:
    curve: Sequence[CurvePoint]
    objective: float | None = None
    cost: float | None = None


@dataclass(frozen=True)
class StopDecision:
    """Why and where a trial was stopped; `reason` is a sentence for its status."""

    reason: str
    step: int
    objective: float
    cost: float | None


def decide(settings: EarlyStopping, direction: Direction, curve: Sequence[CurvePoint],
           predicted_cost: float | None, peers: Sequence[Peer]) -> StopDecision | None:
    """Stop the trial now (a decision) or let it run (None)."""
    raise NotImplementedError("early-stopping rules: being written (issue 12)")
