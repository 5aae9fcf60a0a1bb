"""Reading a running trial's progress from its primary pod's log, bounded per poll.

One `ProgressReader` per study reconciler. Each running trial is read at most once per
`poll_seconds`, and each read is bounded whatever the trial prints: the lines written since
the last one seen (`sinceSeconds`), at most TAIL_LINES of them, at most TAIL_BYTES (retried
once with half as many lines when the tail is longer than that, since the newest lines are
the ones that matter). The reader's memory per trial is a cursor and a line count; the
curve itself lives in the CarbsTrial's status, so a restarted operator carries on from it.

What went wrong with the progress is said in the trial's status.progressWarning: malformed
progress lines, progress lines without the objective, a tail so full of other output that it
holds no progress line, a log that cannot be read, progress that stopped arriving.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from carbs_operator import workloads
from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.k8s.api import TRIALS, ObjectApi
from carbs_operator.k8s.progress import TAIL_BYTES, TAIL_LINES, read_tail
from carbs_operator.k8s.trials import _seconds, timestamp
from carbs_operator.k8s.workload_api import cost_so_far, primary_labels, resource_of
from carbs_operator.k8s.workload_state import pod_started
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord, trial_name
from carbs_operator.template import LABEL_STUDY, primary_container_name, workload_kind
from carbs_operator.trial_progress import (
    MAX_WARNING_CHARS,
    chunk_warning,
    curve_points,
    curve_to_status,
    extend_curve,
    late_progress,
    stop_decision,
    stop_to_status,
    stopped_cost,
)

log = logging.getLogger("carbs_operator")
# Lines are read from a little before the cursor: the kubelet's clock is not ours.
CLOCK_SLACK_SECONDS = 30
UNREADABLE = "progress cannot be read"


@dataclass
class _Watch:
    """What the reader remembers of one running trial between polls."""

    cursor: float | None  # time of the newest log line already read
    read_at: float = -math.inf  # time.monotonic() of the last read
    tail_lines: int = TAIL_LINES


@dataclass(frozen=True)
class ProgressReading:
    """A trial's progress after one read: the whole curve, the status warning, and when
    its newest point was printed; `added` points are new in this read."""

    curve: tuple[CurvePoint, ...]
    warning: str | None
    last_point_at: float | None
    added: int
    cost_now: float | None  # the measured cost at the read (None for a reported cost)

    def status(self) -> dict[str, Any]:
        """The CarbsTrial status fields it sets (a null warning clears the old one)."""
        status: dict[str, Any] = {"learningCurve": curve_to_status(self.curve),
                                  "progressWarning": self.warning}
        if self.last_point_at is not None:  # to the microsecond: a restart's cursor
            status["lastProgressTime"] = datetime.fromtimestamp(
                self.last_point_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return status


@dataclass
class ProgressReader:
    api: ObjectApi
    namespace: str
    poll_seconds: float
    silence_seconds: float
    _watches: dict[str, _Watch] = field(default_factory=dict)

    @property
    def watching(self) -> bool:
        return bool(self._watches)

    def keep_only(self, names: set[str]) -> None:
        """Forget the trials that no longer run (bounded memory over a long study)."""
        for name in set(self._watches) - names:
            del self._watches[name]

    async def poll(self, spec: StudySpec, name: str, record: TrialRecord,
                   pods: Sequence[Mapping[str, Any]], last_point_at: float | None, *,
                   ended: bool = False) -> ProgressReading | None:
        """Read the trial's new progress, or None when it is not due yet (read less than
        poll_seconds ago) or not readable (no started pod). `last_point_at` is
        status.lastProgressTime, the cursor of an operator that restarted. A trial that
        `ended` is read at once, and its silence since is no news."""
        watch = self._watches.setdefault(name, _Watch(cursor=last_point_at))
        now = time.monotonic()
        if (now - watch.read_at < self.poll_seconds and not ended) or record.started_at is None:
            return None
        pod = workloads.primary_pod(pods, primary_labels(spec))
        if pod is None or pod_started(pod) is None:  # no log before its container starts
            return None
        watch.read_at = now
        cost_at = cost_so_far(spec, [dict(p) for p in pods], record.started_at)
        data, problem, full = await self._read(spec, str(pod["metadata"]["name"]), watch)
        wall = time.time()  # after the read: no line it returned is later than this
        if data is None:
            return ProgressReading(record.curve, f"{UNREADABLE}: {problem}"[:MAX_WARNING_CHARS],
                            last_point_at, 0, cost_at(wall))
        unreadable = (record.progress_warning or "").startswith(UNREADABLE)
        reading = read_tail(data, watch.cursor)
        if reading.newest is not None:
            watch.cursor = reading.newest
        printed = reading.chunk.points
        new = [point for when, printed_point in zip(reading.times, printed, strict=True)
               for point in curve_points(spec, [printed_point], cost_at(when))]
        curve = extend_curve(record.curve, new) if new else record.curve
        added = len(new)
        if added:
            last_point_at = max(reading.times)
        warnings = [w for w in (chunk_warning(reading.chunk),) if w]
        if len(new) < len(printed):
            warnings.append(f"{len(printed) - len(new)} progress line(s) without the "
                            f"objective {spec.objective.metric!r} ignored")
        if full and reading.lines and not printed:
            warnings.append(f"the newest {reading.lines} lines ({len(data) // 1024} KiB) "
                            "of the log hold no progress line: other output drowns it "
                            "(progress is read from the log's newest lines only)")
        silence = None if ended or added else \
            self._silence(record, curve, last_point_at, wall)
        warning: str | None
        if not added and not warnings and record.progress_warning and not unreadable:
            warning = record.progress_warning  # no news: what was said still holds
        else:
            warning = "; ".join([*warnings, *([silence] if silence else [])]) or None
        warning = warning[:MAX_WARNING_CHARS] if warning else None
        return ProgressReading(curve, warning, last_point_at, added, cost_at(wall))

    async def _read(self, spec: StudySpec, pod: str,
                    watch: _Watch) -> tuple[bytes | None, str | None, bool]:
        """(the tail, None, whether it is full: cut at TAIL_BYTES or as many lines as asked
        for, so older new lines may be unread) or (None, why, False)."""
        since = None if watch.cursor is None else \
            max(1, math.ceil(time.time() - watch.cursor) + CLOCK_SLACK_SECONDS)
        container = primary_container_name(spec)
        for _ in range(2):
            text, problem = await self.api.pod_log(
                self.namespace, pod, container, TAIL_BYTES, tail_lines=watch.tail_lines,
                since_seconds=since, timestamps=True)
            if text is None:
                return None, problem, False
            data = text.encode("utf-8", errors="replace")
            if len(data) < TAIL_BYTES:
                asked, watch.tail_lines = watch.tail_lines, min(TAIL_LINES, watch.tail_lines * 2)
                return data, None, data.count(b"\n") >= asked
            if watch.tail_lines == 1:
                break
            watch.tail_lines = max(1, data.count(b"\n") // 2)
        return data, None, True

    def _silence(self, record: TrialRecord, curve: Sequence[CurvePoint],
                 last_point_at: float | None, wall: float) -> str | None:
        """Why the trial's progress is late (trial_progress.late_progress, the rule both
        runtimes share), or None; the text does not change while the silence lasts, so it
        is written once."""
        return late_progress(record.started_at, last_point_at, wall, curve,
                             floor=self.silence_seconds)


class EarlyStopper:
    """spec.earlyStopping for one study: polls its running trials' progress, keeps their
    curves in status, stops those rule_verdict() says to, and finishes stops a crash left
    half-done. The decision is written to the CarbsTrial (phase EarlyStopped) before the
    workload is deleted, so a restarted operator finds it decided: it deletes a workload
    still there and never decides or counts the trial again."""

    def __init__(self, api: ObjectApi, namespace: str, study: str, *, poll_seconds: float,
                 silence_seconds: float) -> None:
        self.api = api
        self.namespace = namespace
        self.study = study
        self.reader = ProgressReader(api, namespace, poll_seconds, silence_seconds)
        self._gone: set[str] = set()  # stopped trials whose workload is known deleted

    @property
    def poll_seconds(self) -> float:
        return self.reader.poll_seconds

    @property
    def watching(self) -> bool:
        """Whether a running trial's progress is being read."""
        return self.reader.watching

    async def poll(
        self, spec: StudySpec, records: list[TrialRecord],
        running: Mapping[int, tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]],
    ) -> tuple[list[TrialRecord], list[TrialRecord]]:
        """(the records brought up to date, those stopped in this pass). `running` holds
        the object and pods of each running trial whose workload has not finished."""
        if spec.early_stopping is None:  # absent, or removed from the spec meanwhile
            self.reader.keep_only(set())
            return records, []
        self.reader.keep_only({trial_name(self.study, i) for i in running})
        out: list[TrialRecord] = []
        stopped: list[TrialRecord] = []
        for record in records:
            entry = running.get(record.index)
            if entry is None or record.phase != TrialPhase.RUNNING or _primary_succeeded(
                    spec, entry[1]):
                # A primary pod that succeeded printed its last progress line with its
                # result: the reconciler concludes it; a stop decided on that line would
                # discard the result.
                out.append(record)
                continue
            name = trial_name(self.study, record.index)
            last = _seconds((entry[0].get("status") or {}).get("lastProgressTime"))
            progress = await self.reader.poll(spec, name, record, entry[1], last)
            if progress is None:
                out.append(record)
                continue
            updated = replace(record, curve=progress.curve, progress_warning=progress.warning)
            decision = None
            if progress.added:  # a pure function of the curve: same curve, same answer
                decision = await asyncio.to_thread(stop_decision, spec, record,
                                                   progress.curve, records)
            if decision is not None:
                updated = await self._stop(spec, name, updated, decision, progress)
                stopped.append(updated)
            elif progress.curve != record.curve or progress.warning != record.progress_warning:
                await self.api.patch_status(TRIALS, self.namespace, name, progress.status())
            out.append(updated)
        return out, stopped

    async def _stop(self, spec: StudySpec, name: str, record: TrialRecord,
                    decision: StopDecision, progress: ProgressReading) -> TrialRecord:
        now = time.time()
        spent = stopped_cost(spec, decision, progress.curve, progress.cost_now)
        status = {**progress.status(), "phase": TrialPhase.EARLY_STOPPED.value,
                  "objective": decision.objective,
                  "earlyStop": stop_to_status(decision, timestamp(now)),
                  "completionTime": timestamp(now)}
        if spent is not None:
            status["cost"] = spent
        if record.started_at is not None:
            status["runtimeSeconds"] = max(0.0, now - record.started_at)
        await self.api.patch_status(TRIALS, self.namespace, name, status)  # first: on record
        try:
            await self.api.delete(resource_of(workload_kind(spec)), self.namespace, name)
        except ApiException as error:  # decided and recorded: finish_stops deletes it
            log.warning("trial %s/%s stopped early; deleting its workload failed (%s), "
                        "retried next pass", self.namespace, name, error.reason)
        else:
            self._gone.add(name)
        return replace(record, phase=TrialPhase.EARLY_STOPPED, objective=decision.objective,
                       cost=spent, early_stop=decision, finished_at=now)

    async def last_read(self, spec: StudySpec, record: TrialRecord, obj: Mapping[str, Any],
                        pods: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The status fields of the progress a trial printed after the last poll, read once
        as it ends, so a finished trial's curve (a peer's, for the rules) runs to its end."""
        if spec.early_stopping is None or record.phase != TrialPhase.RUNNING:
            return {}
        name = trial_name(self.study, record.index)
        last = _seconds((obj.get("status") or {}).get("lastProgressTime"))
        progress = await self.reader.poll(spec, name, record, pods, last, ended=True)
        if progress is None or (progress.curve == record.curve and
                                progress.warning == record.progress_warning):
            return {}
        return progress.status()

    async def finish_stops(self, spec: StudySpec, records: Sequence[TrialRecord]) -> list[str]:
        """Delete the workloads of stopped trials that are still there (the operator died
        between recording a stop and deleting the workload); the names deleted. One list
        of the study's workloads, and only while a stopped trial is not known gone."""
        stopped = {trial_name(self.study, r.index) for r in records
                   if r.phase == TrialPhase.EARLY_STOPPED}
        unknown = stopped - self._gone
        if not unknown:
            return []
        resource = resource_of(workload_kind(spec))
        existing = await self.api.list_objects(resource, self.namespace,
                                               f"{LABEL_STUDY}={self.study}")
        deleted = []
        for obj in existing:
            meta = obj.get("metadata") or {}
            name = str(meta.get("name"))
            if name in unknown and not meta.get("deletionTimestamp"):
                await self.api.delete(resource, self.namespace, name)
                deleted.append(name)
        self._gone |= unknown
        return deleted


def _primary_succeeded(spec: StudySpec, pods: Sequence[Mapping[str, Any]]) -> bool:
    pod = workloads.primary_pod(pods, primary_labels(spec))
    return pod is not None and (pod.get("status") or {}).get("phase") == "Succeeded"
