"""SQLite state of a local study: one row per trial, written before its process starts.

The trial rows are the whole truth (the engine is rebuilt from them by replay), so every
change is one short transaction and the file survives a kill -9 at any moment (WAL mode).

Schema 2 (early stopping) added a running trial's progress: its bounded learning curve, how
far its output.log has been read, the note on ignored progress, the engine's predicted cost,
and an early stop (the decision, and whether its process is still being ended). A schema-1
file is migrated in place when opened: the columns are added with empty defaults.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.errors import InfrastructureError
from carbs_operator.models import StudySpec, SuggestionKind, TrialPhase
from carbs_operator.search_signature import changed_in, changed_message, search_signature
from carbs_operator.study import TrialRecord
from carbs_operator.trial_progress import (
    curve_from_status,
    curve_to_status,
    stop_from_status,
    stop_to_status,
)

SCHEMA_VERSION = 2

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
# Schema 2: (column, declaration), added to a schema-1 table by ALTER TABLE.
_PROGRESS_COLUMNS = (
    ("predicted_cost", "REAL"),
    ("curve", "TEXT NOT NULL DEFAULT '[]'"),
    ("progress_offset", "INTEGER NOT NULL DEFAULT 0"),
    ("last_progress_at", "REAL"),
    ("progress_warning", "TEXT"),
    ("early_stop", "TEXT"),
    ("stop_pending", "INTEGER NOT NULL DEFAULT 0"),
)
_SELECT_TRIALS = (
    "SELECT idx, params, phase, suggestion_id, suggestion_kind, objective, cost, metrics, "
    "failure_reason, created_at, started_at, finished_at, predicted_cost, curve, early_stop, "
    "progress_warning FROM trials ORDER BY idx"
)


#: meta key of the study's spec as JSON, written on every bind (readers: ui/local_source).
SPEC_KEY = "spec"


def spec_json(spec: StudySpec) -> str:
    return spec.model_dump_json(by_alias=True, exclude_none=True)


class StoreError(InfrastructureError):
    """The state file cannot serve this study (another search space, a newer schema)."""


#: meta key of the search signature (search_signature.py), the same one the operator stamps.
SEARCH_KEY = "search"


def _legacy_fixed(spec: StudySpec) -> dict[str, Any]:
    """What state files written before the shared signature stored (key "signature"): the
    objective, the cost and the parameters, as JSON. Read only, to accept those files."""
    return {
        "objective": spec.objective.model_dump(mode="json"),
        "cost": spec.cost.model_dump(mode="json"),
        "parameters": [p.model_dump(mode="json") for p in spec.parameters],
    }


class TrialStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()
        # Parsed curves by trial, with the text they came from: the runner reads every row
        # on every poll, and parsing thousands of unchanged curves each time would dominate.
        self._curves: dict[int, tuple[str, tuple[CurvePoint, ...]]] = {}

    def _add_missing_columns(self) -> None:
        """Bring a schema-1 table up to schema 2 (bind_study then records the version)."""
        have = {str(row[1]) for row in self._db.execute("PRAGMA table_info(trials)")}
        missing = [(name, kind) for name, kind in _PROGRESS_COLUMNS if name not in have]
        if not missing:
            return
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            have = {str(row[1]) for row in self._db.execute("PRAGMA table_info(trials)")}
            for name, kind in missing:
                if name not in have:  # another process may have added it meanwhile
                    self._db.execute(f"ALTER TABLE trials ADD COLUMN {name} {kind}")

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
        """Claim a fresh file for this study, or check that it already belongs to it and
        that its search is the one its trials were made under (search_signature.py)."""
        stamp = search_signature(spec)
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            stored_name = self._meta("study")
            if stored_name is None:
                self._db.executemany(
                    "INSERT INTO meta (key, value) VALUES (?, ?)",
                    [("study", name), (SEARCH_KEY, stamp),
                     ("schema_version", str(SCHEMA_VERSION)), (SPEC_KEY, spec_json(spec))],
                )
                return
        version = int(self._meta("schema_version") or 0)
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path}: state schema {version} is newer than this carbs "
                             f"({SCHEMA_VERSION}); upgrade carbs-operator")
        if version < SCHEMA_VERSION:  # the columns were added when the file was opened
            with self._db:
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'",
                                 (str(SCHEMA_VERSION),))
        if stored_name != name:
            raise StoreError(f"{self.path} holds study {stored_name!r}, not {name!r}")
        stored = self._meta(SEARCH_KEY)
        changed = (changed_in(spec, [stored]) if stored is not None
                   else self._legacy_changes(spec))
        if changed:
            count = int(self._db.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
            raise StoreError(f"{self.path}: {changed_message(changed, count)} Locally, "
                             "another --state-dir starts afresh.")
        if stored is None:
            # A file from before the shared signature fixed the space, objective and cost
            # only; the engine settings it ran under are not known, so today's are taken.
            with self._db:
                self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                 (SEARCH_KEY, stamp))
        # The spec as last run (budgets may grow between runs): `carbs ui .carbs` shows a
        # study from its state file alone.
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             (SPEC_KEY, spec_json(spec)))

    def _legacy_changes(self, spec: StudySpec) -> list[str]:
        stored = _loads(self._meta("signature"))
        if not isinstance(stored, dict):
            return []
        now = _legacy_fixed(spec)
        return [part for part in ("objective", "cost", "parameters")
                if stored.get(part) != now[part]]

    # -- trials --------------------------------------------------------------------------
    def trials(self) -> list[TrialRecord]:
        rows = self._db.execute(_SELECT_TRIALS).fetchall()
        return [_record(row, self._curve(int(row[0]), row[13])) for row in rows]

    def _curve(self, index: int, text: str | None) -> tuple[CurvePoint, ...]:
        text = text or "[]"
        cached = self._curves.get(index)
        if cached is not None and cached[0] == text:
            return cached[1]
        curve = curve_from_status(_loads(text))
        self._curves[index] = (text, curve)
        return curve

    def next_index(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM trials").fetchone()
        return int(row[0])

    def insert(self, record: TrialRecord) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO trials (idx, params, phase, suggestion_id, suggestion_kind, "
                "created_at, predicted_cost) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.index, json.dumps(dict(record.params), allow_nan=False),
                    record.phase.value, record.suggestion_id,
                    record.suggestion_kind.value if record.suggestion_kind else None,
                    record.created_at if record.created_at is not None else time.time(),
                    record.predicted_cost,
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


    # -- progress and early stopping ----------------------------------------------------
    def record_progress(self, index: int, curve: Sequence[CurvePoint], offset: int,
                        last_progress_at: float | None, warning: str | None) -> None:
        """A running trial's curve so far and how far its output was read, together, so a
        restarted runner reads on from there (a re-read point would only replace itself)."""
        with self._db:
            self._db.execute(
                "UPDATE trials SET curve = ?, progress_offset = ?, last_progress_at = ?, "
                "progress_warning = ? WHERE idx = ? AND phase = ?",
                (_curve_json(curve), offset, last_progress_at, warning, index,
                 TrialPhase.RUNNING.value),
            )

    def progress_state(self, index: int) -> tuple[int, float | None]:
        """(bytes of output.log already read, when the last progress point was read)."""
        row = self._db.execute(
            "SELECT progress_offset, last_progress_at FROM trials WHERE idx = ?", (index,)
        ).fetchone()
        return (0, None) if row is None else (int(row[0] or 0), row[1])

    def stop_early(self, index: int, stop: StopDecision, *, objective: float,
                   cost: float | None, curve: Sequence[CurvePoint], decided_at: float) -> bool:
        """Record the decision to stop a running trial, before its process is signalled, so
        a restarted runner finishes the stop rather than deciding again. False when the
        trial was no longer running (it finished first): then nothing is to be stopped."""
        with self._db:
            changed = self._db.execute(
                "UPDATE trials SET phase = ?, objective = ?, cost = ?, curve = ?, "
                "early_stop = ?, finished_at = ?, stop_pending = 1 WHERE idx = ? AND phase = ?",
                (TrialPhase.EARLY_STOPPED.value, objective, cost, _curve_json(curve),
                 json.dumps(stop_to_status(stop), allow_nan=False), decided_at, index,
                 TrialPhase.RUNNING.value),
            ).rowcount
        return changed == 1

    def pending_stops(self) -> list[int]:
        """Early-stopped trials whose process was not yet seen to end."""
        rows = self._db.execute(
            "SELECT idx FROM trials WHERE phase = ? AND stop_pending = 1 ORDER BY idx",
            (TrialPhase.EARLY_STOPPED.value,),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def stop_done(self, index: int) -> None:
        with self._db:
            self._db.execute("UPDATE trials SET stop_pending = 0 WHERE idx = ?", (index,))


def _curve_json(curve: Sequence[CurvePoint]) -> str:
    return json.dumps(curve_to_status(curve), allow_nan=False)


def _loads(text: str | None) -> Any:
    """JSON the runner wrote; a hand-edited cell reads as nothing rather than failing."""
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _record(row: tuple[Any, ...], curve: tuple[CurvePoint, ...]) -> TrialRecord:
    (index, params, phase, suggestion_id, kind, objective, cost, metrics, reason, created,
     started, finished, predicted, _, early_stop, warning) = row
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
        predicted_cost=predicted,
        curve=curve,
        early_stop=stop_from_status(_loads(early_stop)),
        progress_warning=warning,
    )


@dataclass(frozen=True)
class StoredStudy:
    """A state file as a reader sees it: the study's name, its spec as last run (None in
    files written before the spec was kept) and its trials."""

    name: str | None
    spec: dict[str, Any] | None
    trials: list[TrialRecord]


def read_stored_study(path: Path) -> StoredStudy:
    """Read a state file without writing to it (no schema migration, no lock held): a
    viewer must never change a study that a runner may be writing this moment."""
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=30)
    except sqlite3.Error as error:
        raise StoreError(f"{path}: cannot open: {error}") from error
    try:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows = db.execute(_SELECT_TRIALS).fetchall()
    except sqlite3.Error as error:
        raise StoreError(f"{path}: not a study state this carbs can read ({error}); "
                         "`carbs run` the study once to bring it up to date") from error
    finally:
        db.close()
    spec = _loads(meta.get(SPEC_KEY))
    return StoredStudy(
        name=meta.get("study"), spec=spec if isinstance(spec, dict) else None,
        trials=[_record(row, curve_from_status(_loads(row[13]))) for row in rows],
    )
