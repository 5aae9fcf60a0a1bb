"""The engine's suggestions for a study, computed in the worker pool.

The engine is rebuilt there from the study's records by replay (as it always was, now
off the event loop too), and the GP's fitted hyperparameters travel back as JSON to
warm-start the study's next fit. Nothing is created here: the reconciler creates the
trials on the event loop once the answer is in, so a worker that dies mid-suggestion
costs a recomputation, never a trial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carbs_operator.k8s import worker_tasks
from carbs_operator.k8s.views import plain_records, spec_body
from carbs_operator.k8s.workers import WorkerPool
from carbs_operator.study import TrialRecord


@dataclass(frozen=True)
class Suggestions:
    outputs: list[dict[str, Any]]  # {"suggestion": params + suggestion_uuid, "log": {...}}
    fit_state: Any
    seconds: float


async def suggest(pool: WorkerPool, body: dict[str, Any], records: Sequence[TrialRecord],
                  count: int, *, device: str, fit_state: Any) -> Suggestions:
    payload = {"body": spec_body(body), "trials": await plain_records(records),
               "count": count, "device": device, "fit_state": fit_state}
    answer = await pool.call(worker_tasks.suggest, payload)
    return Suggestions(list(answer["outputs"]), answer.get("fit_state"),
                       float(answer["seconds"]))
