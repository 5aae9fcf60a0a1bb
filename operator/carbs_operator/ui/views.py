"""The part of a StudySource that both sources share: from (spec, trials) at a revision to
the JSON the UI reads, cached by that revision so an unchanged study is computed once.

A source (local_source, cluster_source) only says which studies exist, what their
revision is and what their records hold; everything derived goes through here, and so
through study_view, like the operator's status and `carbs frontier`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import yaml

from carbs_operator.models import StudySpec, StudyStatus
from carbs_operator.study import TrialRecord
from carbs_operator.ui.source import JSON
from carbs_operator.view_json import (
    curves_json,
    trial_detail_json,
    view_json,
    view_summary_json,
)

if TYPE_CHECKING:  # the engine (torch) loads with the first view, not with the source
    from carbs_operator.study_view import StudyView

_LOG = logging.getLogger(__name__)
#: Studies whose views are kept, the most recently read (a view of 500 trials holds a few
#: MiB; a UI over 200 studies keeps the pages people are looking at, not every one).
MAX_VIEWS = 32


@dataclass(frozen=True)
class StudyRecords:
    """What a source read of one study at one revision."""

    key: str
    name: str
    namespace: str
    source: str
    revision: str
    spec: StudySpec
    trials: tuple[TrialRecord, ...]
    manifest: dict[str, Any]
    previous: StudyStatus | None = None


@dataclass
class _Entry:
    revision: str
    view: StudyView
    cache: dict[str, Any] = field(default_factory=dict)


class ViewCache:
    """Study views by key, each recomputed only when its revision moves.

    The study page and the studies list are served stale-while-revalidate: once a study has
    a view, a newer revision is computed in the background while the last view is served
    with its own revision (a page compares it with /revision and asks again). A view of
    10,000 trials takes seconds to compute; a page that polls every 2 s must not wait for
    each new trial's. Curves, importance and a trial's page are always current.
    """

    def __init__(self, size: int = MAX_VIEWS) -> None:
        self.size = size
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing: set[str] = set()
        self._refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="view-refresh")

    def entry(self, records: StudyRecords) -> _Entry:
        with self._lock:
            found = self._entries.get(records.key)
            if found is not None and found.revision == records.revision:
                self._entries.move_to_end(records.key)
                return found
        from carbs_operator.study_view import build_view

        view = build_view(records.spec, records.trials, name=records.name,
                          namespace=records.namespace, previous=records.previous,
                          now=_clock(records))
        entry = _Entry(records.revision, view)
        with self._lock:
            self._entries[records.key] = entry
            self._entries.move_to_end(records.key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return entry

    def latest(self, records: StudyRecords) -> _Entry:
        """The current view if there is one, else the last one while the current one is
        computed in the background; computed here only when there is none at all."""
        with self._lock:
            found = self._entries.get(records.key)
            if found is None or found.revision == records.revision:
                stale = None
            else:
                stale = found
                if records.key not in self._refreshing:
                    self._refreshing.add(records.key)
                    self._refresher.submit(self._refresh, records)
        return stale if stale is not None else self.entry(records)

    def _refresh(self, records: StudyRecords) -> None:
        try:
            self.entry(records)
        except Exception:  # a view failing on some study's data must not end the refresher
            _LOG.exception("view of %s at %s", records.key, records.revision)
        finally:
            with self._lock:
                self._refreshing.discard(records.key)

    def forget_except(self, keys: Sequence[str]) -> None:
        """Drop the views of studies that are gone (a bounded cache, not a history)."""
        with self._lock:
            for key in set(self._entries) - set(keys):
                del self._entries[key]

    def _memo(self, entry: _Entry, name: str, compute: Callable[[StudyView], Any]) -> Any:
        if name not in entry.cache:
            entry.cache[name] = compute(entry.view)
        return entry.cache[name]

    def summary(self, records: StudyRecords) -> JSON:
        entry = self.latest(records)
        return {**self._memo(entry, "summary", view_summary_json),
                **_identity(records, entry.revision)}

    def view(self, records: StudyRecords) -> JSON:
        entry = self.latest(records)
        manifest = yaml.safe_dump(records.manifest, sort_keys=False)
        out = self._memo(entry, "view", lambda v: view_json(v, manifest=manifest))
        identity = _identity(records, entry.revision)
        return {**out, **identity, "summary": {**out["summary"], **identity}}

    def curves(self, records: StudyRecords) -> JSON:
        return dict(self._memo(self.entry(records), "curves", curves_json))

    def importance(self, records: StudyRecords) -> JSON:
        from carbs_operator.importance import cost_importance

        return dict(self._memo(self.entry(records), "importance",
                               lambda v: cost_importance(v.spec, v.trials)))

    def trial(self, records: StudyRecords, index: int, log: list[str] | None) -> JSON | None:
        return trial_detail_json(self.entry(records).view, index, log)

    def predict(self, records: StudyRecords, cost: float) -> JSON:
        from carbs_operator.scaleup.predict import PredictionRefusedError, predict_scale_up

        if not (math.isfinite(cost) and cost > 0):
            return {"error": "the cost must be a positive number"}
        try:
            prediction = predict_scale_up(records.spec, records.trials, cost)
        except PredictionRefusedError as error:
            return {"error": str(error)}
        return prediction.to_json()


def _identity(records: StudyRecords, revision: str) -> JSON:
    return {"key": records.key, "source": records.source, "revision": revision}


def _clock(records: StudyRecords) -> datetime:
    """The status's clock: the latest trial event, so the same records give the same view
    (a view at one revision must not change with the wall clock)."""
    times = [t for r in records.trials for t in (r.created_at, r.started_at, r.finished_at)
             if t is not None]
    return datetime.fromtimestamp(max(times), tz=UTC) if times else datetime(1970, 1, 1,
                                                                              tzinfo=UTC)
