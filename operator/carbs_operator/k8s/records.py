"""Trial records as plain JSON-able dicts, to cross the worker pool's process boundary.

The pool receives nothing but plain data (no pickle of our own objects): a record becomes a
dict of numbers, strings, lists and dicts, and the worker rebuilds the same frozen
`TrialRecord`. `record_key` is the cheap fingerprint of what a derived view reads from a
record, so an unchanged study is recognised without serialising its trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.models import SuggestionKind, TrialPhase
from carbs_operator.study import TrialRecord


def record_to_dict(record: TrialRecord) -> dict[str, Any]:
    """Every field of `record`, JSON-able (enums as their values, curve points as lists)."""
    stop = record.early_stop
    return {
        "index": record.index,
        "params": dict(record.params),
        "phase": record.phase.value,
        "suggestion_id": record.suggestion_id,
        "suggestion_kind": record.suggestion_kind.value if record.suggestion_kind else None,
        "objective": record.objective,
        "cost": record.cost,
        "metrics": dict(record.metrics),
        "failure_reason": record.failure_reason,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "predicted_cost": record.predicted_cost,
        "curve": [[p.step, p.objective, p.cost] for p in record.curve],
        "early_stop": None if stop is None else
        {"reason": stop.reason, "step": stop.step, "objective": stop.objective, "cost": stop.cost},
        "progress_warning": record.progress_warning,
    }


def record_from_dict(data: Mapping[str, Any]) -> TrialRecord:
    """The `TrialRecord` that `record_to_dict` wrote."""
    stop = data.get("early_stop")
    kind = data.get("suggestion_kind")
    return TrialRecord(
        index=int(data["index"]),
        params=dict(data.get("params") or {}),
        phase=TrialPhase(data["phase"]),
        suggestion_id=data.get("suggestion_id"),
        suggestion_kind=SuggestionKind(kind) if kind else None,
        objective=data.get("objective"),
        cost=data.get("cost"),
        metrics=dict(data.get("metrics") or {}),
        failure_reason=data.get("failure_reason"),
        created_at=data.get("created_at"),
        started_at=data.get("started_at"),
        finished_at=data.get("finished_at"),
        predicted_cost=data.get("predicted_cost"),
        curve=tuple(CurvePoint(int(s), float(o), c) for s, o, c in data.get("curve") or ()),
        early_stop=None if stop is None else StopDecision(
            str(stop["reason"]), int(stop["step"]), float(stop["objective"]), stop.get("cost")),
        progress_warning=data.get("progress_warning"),
    )


def record_key(record: TrialRecord) -> tuple[Any, ...]:
    """What can change in a record once it exists (its params and suggestion are fixed at
    creation; its index names it): a study whose records all keep their keys has the same
    derived view."""
    last = record.curve[-1] if record.curve else None
    return (record.index, record.phase, record.objective, record.cost, record.finished_at,
            record.started_at, record.created_at, record.failure_reason, len(record.curve),
            last, record.early_stop, record.progress_warning,
            tuple(sorted(record.metrics.items())) if record.metrics else ())


def records_key(records: Sequence[TrialRecord]) -> tuple[tuple[Any, ...], ...]:
    return tuple(record_key(r) for r in records)
