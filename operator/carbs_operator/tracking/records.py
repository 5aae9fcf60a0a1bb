"""What a study and its trials look like to a tracker: pure functions of the records.

Both trackers get the same mapping: a trial's parameters; its final metrics (what it
reported, plus `objective` and `cost` as the study computed them); its progress curve as
stepped metrics (the objective metric and `cost` at each reported step); and tags:
`carbs.study`, `carbs.trial`, `carbs.index`, `carbs.phase`, `carbs.stop_reason` (the
early stop's or the failure's reason, when there is one) and `carbs.frontier`
("true"/"false", kept current as the frontier moves).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from carbs_operator.models import StudySpec
from carbs_operator.study import TrialRecord, trial_name

TAG_STUDY = "carbs.study"
TAG_TRIAL = "carbs.trial"
TAG_INDEX = "carbs.index"
TAG_PHASE = "carbs.phase"
TAG_STOP_REASON = "carbs.stop_reason"
TAG_FRONTIER = "carbs.frontier"
TAG_ROLE = "carbs.role"
MAX_TAG_CHARS = 4000  # MLflow keeps 8000; a reason longer than this is cut


@dataclass(frozen=True)
class TrialEntry:
    """One trial as a tracker run."""

    name: str
    index: int
    params: dict[str, float | str]
    metrics: dict[str, float]
    steps: tuple[tuple[int, dict[str, float]], ...]
    tags: dict[str, str]


def study_key(namespace: str, study: str) -> str:
    """How a study is named in a tracker: `local/<name>` for `carbs run` and tune()."""
    return f"{namespace}/{study}"


def trial_entry(spec: StudySpec, namespace: str, study: str, record: TrialRecord,
                on_frontier: bool) -> TrialEntry:
    name = trial_name(study, record.index)
    metrics = {key: float(value) for key, value in record.metrics.items() if _finite(value)}
    if _finite(record.objective):
        metrics["objective"] = float(record.objective or 0.0)
    if _finite(record.cost):
        metrics["cost"] = float(record.cost or 0.0)
    metric = spec.objective.metric
    steps = tuple(
        (point.step, {metric: float(point.objective),
                      **({"cost": float(point.cost or 0.0)} if _finite(point.cost) else {})})
        for point in record.curve if _finite(point.objective))
    reason = record.early_stop.reason if record.early_stop is not None else \
        record.failure_reason
    tags = {TAG_STUDY: study_key(namespace, study), TAG_TRIAL: name,
            TAG_INDEX: str(record.index), TAG_PHASE: record.phase.value,
            TAG_FRONTIER: "true" if on_frontier else "false"}
    if reason:
        tags[TAG_STOP_REASON] = reason[:MAX_TAG_CHARS]
    return TrialEntry(name, record.index, dict(record.params), metrics, steps, tags)


def laws_document(laws: Sequence[Any]) -> list[dict[str, Any]]:
    """The scaling laws as JSON-ready dicts (every field the engine's law carries)."""
    out = []
    for law in laws:
        is_record = dataclasses.is_dataclass(law) and not isinstance(law, type)
        data = dataclasses.asdict(law) if is_record else dict(vars(law))
        out.append(json.loads(json.dumps(data, default=str)))
    return out


def frontier_document(spec: StudySpec, frontier: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    return [{"trial": t.index, spec.objective.metric: t.objective, "cost": t.cost,
             "params": dict(t.params)} for t in frontier]


def finished(trials: Mapping[int, TrialRecord]) -> list[TrialRecord]:
    return [t for _, t in sorted(trials.items()) if t.phase.is_finished]


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value)
