"""SQLite state of a local study: one row per trial, written before its process starts.

The trial rows are the whole truth (the engine is rebuilt from them by replay), so every
change is one short transaction and the file survives a kill -9 at any moment (WAL mode).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from carbs_operator.models import StudySpec, SuggestionKind, TrialPhase
from carbs_operator.study import TrialRecord

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    idx INTEGER PRIMARY KEY,
    params TEXT NOT NULL,
    phase TEXT NOT NULL,
    suggestion_id TEXT,
    suggestion_kind TEXT,
    objective REAL,
    cost REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    failure_reason TEXT,
    created_at REAL,
    started_at REAL,
    finished_at REAL
);
"""


class StoreError(Exception):
    """The state file cannot serve this study (another search space, a newer schema)."""


def search_signature(spec: StudySpec) -> str:
    """What must not change under existing trials: the space, the objective, the cost.

    Budgets, parallelism, suspend and the template may change between runs.
    """
    fixed = {
        "objective": spec.objective.model_dump(mode="json"),
        "cost": spec.cost.model_dump(mode="json"),
        "parameters": [p.model_dump(mode="json") for p in spec.parameters],
    }
    return json.dumps(fixed, sort_keys=True)


class TrialStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TrialStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def bind_study(self, name: str, spec: StudySpec) -> None:
        """Claim a fresh file for this study, or check that it already belongs to it."""
        signature = search_signature(spec)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            stored_name = self._meta("study")
            if stored_name is None:
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("study", name), ("signature", signature),
                     ("schema_version", str(SCHEMA_VERSION))],
                )
                return
        version = int(self._meta("schema_version") or 0)
        if version != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: state schema {version}, expected {SCHEMA_VERSION}")
        if stored_name != name:
            raise StoreError(f"{self.path} holds study {stored_name!r}, not {name!r}")
        if self._meta("signature") != signature:
            raise StoreError(
                f"{self.path} was made with other parameters, objective or cost than the "
                "manifest has now; its trials would not fit this search. Keep the old "
                "manifest, or start afresh with another --state-dir (or delete the file)."
            )

    # -- trials --------------------------------------------------------------------------
    def trials(self) -> list[TrialRecord]:
        rows = self._db.execute(
            "SELECT idx, params, phase, suggestion_id, suggestion_kind, objective, cost, "
            "metrics, failure_reason, created_at, started_at, finished_at "
            "FROM trials ORDER BY idx"
        ).fetchall()
        return [_record(row) for row in rows]

    def next_index(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM trials").fetchone()
        return int(row[0])

    def insert(self, record: TrialRecord) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO trials (idx, params, phase, suggestion_id, suggestion_kind, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.index, json.dumps(dict(record.params), allow_nan=False),
                    record.phase.value, record.suggestion_id,
                    record.suggestion_kind.value if record.suggestion_kind else None,
                    record.created_at if record.created_at is not None else time.time(),
                ),
            )

    def mark_running(self, index: int, started_at: float) -> None:
        with self._db:
            self._db.execute(
                "UPDATE trials SET phase = ?, started_at = ? WHERE idx = ? AND phase = ?",
                (TrialPhase.RUNNING.value, started_at, index, TrialPhase.PENDING.value),
            )

    def finish(
        self,
        index: int,
        phase: TrialPhase,
        *,
        metrics: Mapping[str, float] | None = None,
        objective: float | None = None,
        cost: float | None = None,
        failure_reason: str | None = None,
        started_at: float | None = None,
        finished_at: float | None = None,
    ) -> None:
        """Record a trial's end, once: a finished trial is never rewritten."""
        with self._db:
            self._db.execute(
                "UPDATE trials SET phase = ?, metrics = ?, objective = ?, cost = ?, "
                "failure_reason = ?, started_at = COALESCE(started_at, ?), finished_at = ? "
                "WHERE idx = ? AND phase IN (?, ?)",
                (
                    phase.value, json.dumps(dict(metrics or {}), allow_nan=False), objective,
                    cost, failure_reason, started_at, finished_at or time.time(), index,
                    TrialPhase.PENDING.value, TrialPhase.RUNNING.value,
                ),
            )


def _record(row: tuple[Any, ...]) -> TrialRecord:
    (index, params, phase, suggestion_id, kind, objective, cost, metrics, reason, created,
     started, finished) = row
    return TrialRecord(
        index=int(index),
        params=json.loads(params),
        phase=TrialPhase(phase),
        suggestion_id=suggestion_id,
        suggestion_kind=SuggestionKind(kind) if kind else None,
        objective=objective,
        cost=cost,
        metrics=json.loads(metrics or "{}"),
        failure_reason=reason,
        created_at=created,
        started_at=started,
        finished_at=finished,
    )
