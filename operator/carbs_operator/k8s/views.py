"""A study's derived view (laws, status, scale-up prediction, metric values), computed in
the worker pool and cached by the study's trial set.

The view is a pure function of the spec, the trial records and the previous status, and
it is the costly part of a pass: a replay of every trial, the laws' fits and the
prediction's bootstrap refits. Computed on the event loop it held every other study, watch
event and timer for seconds on a study of thousands of trials. Here it is computed in a
worker process, and not at all when nothing it reads changed since the view last written:
the key is the study's generation and a fingerprint of each record (`records.record_key`).

Metric values come back as plain rows and are set here, on the operator's registry, so
the scrape sees them exactly as `StudyMetrics.update_study` would have set them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge

from carbs_operator.k8s import worker_tasks
from carbs_operator.k8s.records import record_to_dict, records_key
from carbs_operator.k8s.workers import WorkerPool
from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import StudyStatus
from carbs_operator.study import TrialRecord

#: Records converted between two yields to the loop: a study of thousands of trials must
#: not hold the loop while its records become dicts.
CHUNK = 500


@dataclass(frozen=True)
class View:
    key: tuple[Any, ...]
    status: StudyStatus


async def plain_records(records: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    """`record_to_dict` of every record, yielding to the loop between chunks."""
    out: list[dict[str, Any]] = []
    for start in range(0, len(records), CHUNK):
        out.extend(record_to_dict(r) for r in records[start:start + CHUNK])
        if start + CHUNK < len(records):
            await asyncio.sleep(0)
    return out


def spec_body(body: dict[str, Any]) -> dict[str, Any]:
    """The part of a study object its spec is parsed from (no status: it grows with the
    laws and says nothing about the spec)."""
    meta = body.get("metadata") or {}
    return {"apiVersion": body.get("apiVersion"), "kind": body.get("kind"),
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace")},
            "spec": body.get("spec")}


class StudyViews:
    """One study's view cache; `derive` then, once the status is written, `commit`."""

    def __init__(self, pool: WorkerPool, namespace: str, study: str,
                 metrics: StudyMetrics | None) -> None:
        self.pool = pool
        self.namespace = namespace
        self.study = study
        self.metrics = metrics
        self._committed: tuple[Any, ...] | None = None
        self._series: dict[str, set[tuple[str, ...]]] = {}

    async def derive(self, body: dict[str, Any], records: Sequence[TrialRecord],
                     generation: int | None, previous: StudyStatus | None) -> View | None:
        """The view of this pass, or None when it is the one last committed."""
        key = (generation, records_key(records))
        if key == self._committed:
            return None
        payload = {
            "body": spec_body(body), "trials": await plain_records(records),
            "generation": generation, "study": self.study, "namespace": self.namespace,
            "previous": previous.model_dump(mode="json", by_alias=True, exclude_none=True)
            if previous is not None else None,
            "now": datetime.now(UTC).isoformat(), "metrics": self.metrics is not None,
        }
        answer = await self.pool.call(worker_tasks.derived_view, payload, background=True)
        self._apply_metrics(answer.get("metrics") or {})
        return View(key, StudyStatus.model_validate(answer["status"]))

    def commit(self, view: View) -> None:
        """The status of `view` is written: the same key costs nothing from now on."""
        self._committed = view.key

    def forget(self) -> None:
        """Something else was written as the status (Invalid): the next view is computed."""
        self._committed = None

    def _apply_metrics(self, values: dict[str, Any]) -> None:
        if self.metrics is None:
            return
        for attr, rows in values.items():
            metric = getattr(self.metrics, attr, None)
            if metric is None or not hasattr(metric, "labels"):
                continue
            new = {tuple(labels): value for labels, value in rows}
            if isinstance(metric, Gauge):
                for gone in self._series.get(attr, set()) - new.keys():
                    with contextlib.suppress(KeyError):
                        metric.remove(*gone)
            for labels, value in new.items():
                child = metric.labels(*labels)
                if value is not None and isinstance(metric, Gauge):
                    child.set(value)
            self._series[attr] = set(new)
