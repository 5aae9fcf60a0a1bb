"""One study's reconcile loop: read the world, apply the shared rules, write the world.

Every pass starts from what the API server holds (the study, its CarbsTrials, their Jobs
and Pods) and rebuilds the engine from the trials by replay, so an operator killed at any
point picks up where the objects say it was:

- killed after suggesting, before the trial existed: the suggestion is simply made again;
- after creating the trial, before its Job: the next pass creates the Job (the trial is
  Pending without one);
- after the Job finished, before the result was recorded: the next pass reads the Job and
  concludes the trial.

Creates are idempotent (deterministic names; 409 means adopt), so no trial is created twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from carbs_operator.k8s.api import STUDIES, TRIALS, ObjectApi
from carbs_operator.k8s.engine_calls import suggest
from carbs_operator.k8s.status_writer import INVALID_SPEC, StatusWriter
from carbs_operator.k8s.stopping import EarlyStopper
from carbs_operator.k8s.study_objects import StudyApi
from carbs_operator.k8s.trials import (
    owner_reference,
    status_for,
    timestamp,
    trial_index,
    trial_manifest,
    usable_record,
)
from carbs_operator.k8s.views import StudyViews
from carbs_operator.k8s.workers import WorkerPool
from carbs_operator.k8s.workload_api import (
    DEFAULT_TRIAL_KINDS,
    KIND_UNAVAILABLE,
    collect_result,
    kind_problem,
    read_workload,
    resource_of,
)
from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import (
    CarbsStudy,
    RunningTrialsPolicy,
    TrialPhase,
)
from carbs_operator.models.status import WarmStartStatus
from carbs_operator.search_signature import (
    SIGNATURE_ANNOTATION,
    changed_message,
    changed_parts,
    encode,
    signature_parts,
)
from carbs_operator.study import Outcome, TrialRecord, conclude_trial, study_decision, trial_name
from carbs_operator.template import LABEL_STUDY, build_workload, requested_gpus, workload_kind
from carbs_operator.tracking.tracker import trial_finished_hook
from carbs_operator.trial_progress import SILENCE_SECONDS
from carbs_operator.validation import ManifestError, parse_study
from carbs_operator.warmstart import seed_records, source_names
from carbs_operator.workloads import is_suspended
from carbs_optimizer import SUGGESTION_ID_DICT_KEY

log = logging.getLogger("carbs_operator")
SEARCH_CHANGED = "SearchChanged"
PREEMPTED = ("lost: preempted (its workload was suspended again after it started, e.g. by "
             "Kueue); a new trial takes its place")

# Post an Event: (object, type Normal|Warning, reason, message).
EventPoster = Callable[[dict[str, Any], str, str, str], None]
RESYNC_SECONDS = 10.0
#: A study with nothing in flight and nothing to start is resynced this many times less
#: often (events still wake it at once).
QUIET_RESYNCS = 6
# spec.earlyStopping: a running trial's log is read at most this often (when its progress is
# late: trial_progress.late_progress, the rule both runtimes share).
PROGRESS_SECONDS = 30.0
#: Trial objects read between two yields to the event loop (a pass over a study of
#: thousands of trials must not hold every other study while it reads them).
YIELD_EVERY = 200


class StudyReconciler(StatusWriter):
    """Owns one study while it exists; `run()` until `stop()`."""

    def __init__(
        self,
        api: ObjectApi,
        engine_pool: WorkerPool,
        body: dict[str, Any],
        *,
        post_event: EventPoster,
        metrics: StudyMetrics | None = None,
        device: str = "cpu",
        resync_seconds: float = RESYNC_SECONDS,
        trial_kinds: frozenset[str] = DEFAULT_TRIAL_KINDS,
        progress_seconds: float = PROGRESS_SECONDS,
        silence_seconds: float = SILENCE_SECONDS,
    ) -> None:
        self.namespace: str = body["metadata"]["namespace"]
        self.name: str = body["metadata"]["name"]
        # Its trials, workloads and pods as the shared watches show them (handlers.py feeds
        # `self.objects.observe`); writes go through it to the server.
        self.objects = StudyApi(api, self.namespace, self.name)
        self.api = self.objects
        self.trial_kinds = trial_kinds
        self.engine_pool = engine_pool
        self.body = body
        self.post_event = post_event
        self.metrics = metrics
        self.device = device
        self.resync_seconds = resync_seconds
        self.wake = asyncio.Event()
        self._stopped = False
        self._quiet = False
        self._fit_state: dict[str, Any] | None = None
        self._invalid: tuple[int | None, str] | None = None
        self._accepted = False
        self._skipped: set[str] = set()
        self._next_index = 0
        self._warm_status: WarmStartStatus | None = None
        self.views = StudyViews(engine_pool, self.namespace, self.name, metrics)
        self.stopper = EarlyStopper(api, self.namespace, self.name,
                                    poll_seconds=progress_seconds,
                                    silence_seconds=silence_seconds)

    def _log(self, message: str, *args: Any, trial: str | None = None,
             level: int = logging.INFO) -> None:
        """One line per decision, naming namespace, study and trial (also as JSON fields)."""
        where = f"{self.namespace}/{self.name}" + (f" trial {trial}" if trial else "")
        log.log(level, f"study {where}: {message}", *args,
                extra={"namespace": self.namespace, "study": self.name, "trial": trial})

    def update(self, body: dict[str, Any]) -> None:
        """A newer version of the study arrived: reconcile with it soon."""
        self.body = body
        self.wake.set()

    def stop(self) -> None:
        self._stopped = True
        self.wake.set()

    async def run(self) -> None:
        while not self._stopped:
            self.wake.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:  # an API error or a bug: log it, count it, retry later
                self._quiet = False
                log.exception("reconciling study %s/%s failed", self.namespace, self.name)
                if self.metrics is not None:
                    self.metrics.record_reconcile_error(self.namespace, self.name)
            if self._stopped:
                break
            # Nothing wakes a study when a trial prints, so while its progress is watched it
            # is read on the progress clock, if that is the faster one.
            timeout = min(self.resync_seconds, self.stopper.poll_seconds) \
                if self.stopper.watching else self.resync_seconds
            if self._quiet:
                # Nothing in flight and nothing to start (finished, suspended, out of
                # budget, Invalid): only an event can change that, and every one wakes it.
                # A finished study of thousands of trials no longer costs a pass per resync.
                timeout = max(timeout, QUIET_RESYNCS * self.resync_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=timeout)

    # -- one pass ------------------------------------------------------------------------
    async def reconcile(self) -> None:
        self._quiet = True  # unless this pass finds trials in flight or to start
        body = self.body
        generation = body["metadata"].get("generation")
        try:
            study = parse_study(body)
        except ManifestError as error:
            message = "; ".join(str(p) for p in error.problems)
            await self._mark_invalid(message, generation, INVALID_SPEC)
            return
        unavailable = await kind_problem(self.api, study.spec, self.trial_kinds)
        if unavailable is not None:
            await self._mark_invalid(unavailable, generation, KIND_UNAVAILABLE)
            return
        objects = await self.api.list_objects(TRIALS, self.namespace, f"{LABEL_STUDY}={self.name}")
        objects.sort(key=trial_index)
        changed = changed_parts(study.spec, objects)
        if changed:  # an older CRD let an edit of the search through: refuse it here
            await self._mark_invalid(changed_message(changed, len(objects)), generation,
                                     SEARCH_CHANGED)
            return
        self._invalid = None
        if not self._accepted:
            self._accepted = True
            self._log("accepted (%d trial(s) exist)", len(objects))
        self._next_index = max((trial_index(o) for o in objects), default=-1) + 1
        records = []
        unreadable = 0
        running: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for position, obj in enumerate(objects):
            if position % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            record = self.objects.record(obj)
            if record is None:
                self._skip(obj)
                unreadable += 1
                continue
            records.append(await self._settle(study, obj, record, running))
        records = await self._early_stopping(study, records, running)
        decision = study_decision(study.spec, records)
        # An unreadable trial still holds its index, a parallelism slot and a share of
        # maxTrials: left out of the count, every pass would create one more trial beside it
        # (measured before this: over 1,000 CarbsTrials in two minutes).
        decision = replace(decision, start=max(0, decision.start - unreadable))
        self._quiet = not decision.counts.in_flight and decision.start == 0
        if decision.stop_reason is not None and decision.counts.in_flight:
            if study.spec.completion_policy.running_trials == RunningTrialsPolicy.DELETE:
                reason = f"stopped: the study completed ({decision.stop_reason})"
                records = [await self._stop_trial(study, r, reason) if r.in_flight else r
                           for r in records]
        elif decision.start > 0:
            records += await self._start(body, study, records, decision.start)
        await self._write_status(body, study, records, generation)

    def _skip(self, obj: Any) -> None:
        name = str(((obj or {}).get("metadata") or {}).get("name") or "?")
        if name not in self._skipped:
            self._skipped.add(name)
            self._log("skipped: the object is not a readable CarbsTrial", trial=name,
                      level=logging.WARNING)

    async def _settle(
        self, study: CarbsStudy, obj: dict[str, Any], record: TrialRecord,
        running: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]],
    ) -> TrialRecord:
        """Bring one trial's record up to date with its Job; a trial left running goes into
        `running` with its pods (early stopping reads their progress)."""
        if not record.in_flight:
            return record
        name = obj["metadata"]["name"]
        job, pods, state = await read_workload(self.api, study.spec, self.namespace, name)
        if job is None or state is None:
            if record.phase == TrialPhase.PENDING:
                await self._create_job(study, obj, record)
                return record
            reason = "lost: its workload disappeared before the trial finished"
            return await self._finish(record, Outcome(TrialPhase.LOST, {}, None, None, reason))
        if record.phase == TrialPhase.RUNNING and not state.finished and is_suspended(job):
            # Preempted (Kueue suspended it again after it ran): not a failure of its
            # parameters. As the local runner does with an interrupted trial: Lost, its
            # workload deleted, and a new trial takes its place (README, "Kueue").
            await self.api.delete(resource_of(workload_kind(study.spec)), self.namespace, name)
            return await self._finish(record, Outcome(TrialPhase.LOST, {}, None, None, PREEMPTED))
        if state.finished:
            progress = await self.stopper.last_read(study.spec, record, obj, pods)
            collected = await collect_result(self.api, study.spec, self.namespace, pods, state)
            outcome = conclude_trial(
                study.spec, workload_failure=state.failure or collected.failure,
                result_text=collected.result_text,
                runtime_seconds=state.runtime_seconds, gpus=requested_gpus(study.spec),
                gpu_seconds=state.gpu_seconds,
            )
            return await self._finish(record, outcome, {**status_for(outcome, state), **progress})
        if state.started and record.phase == TrialPhase.PENDING:
            started = state.started_at or time.time()
            await self.api.patch_status(TRIALS, self.namespace, name, {
                "phase": TrialPhase.RUNNING.value, "startTime": timestamp(started),
                "jobName": name,
            })
            self.post_event(self.body, "Normal", "TrialStarted", f"trial {name} is running")
            return replace(record, phase=TrialPhase.RUNNING, started_at=started)
        if record.phase == TrialPhase.RUNNING:
            running[record.index] = (obj, pods)
        return record

    async def _early_stopping(
        self, study: CarbsStudy, records: list[TrialRecord],
        running: dict[int, tuple[dict[str, Any], list[dict[str, Any]]]],
    ) -> list[TrialRecord]:
        """Progress, curves and stops of the running trials (k8s/stopping.py); then the
        workloads of stopped trials a crash left behind are deleted."""
        records, stopped = await self.stopper.poll(study.spec, records, running)
        for record in stopped:
            name = trial_name(self.name, record.index)
            reason = record.early_stop.reason if record.early_stop else "stopped early"
            self.post_event(self.body, "Normal", "TrialEarlyStopped", f"trial {name}: {reason}")
            self._log("stopped early (its workload deleted): %s", reason, trial=name)
            if self.metrics is not None:
                self.metrics.record_trial_finished(self.namespace, self.name,
                                                   TrialPhase.EARLY_STOPPED.value.lower())
        for name in await self.stopper.finish_stops(study.spec, records):
            self._log("stopped early (recorded before a restart or a failed delete); its "
                      "workload, still there, is deleted now", trial=name)
        return records

    async def _finish(
        self, record: TrialRecord, outcome: Outcome, status: dict[str, Any] | None = None
    ) -> TrialRecord:
        name = trial_name(self.name, record.index)
        if status is None:
            status = {"phase": outcome.phase.value, "completionTime": timestamp(time.time())}
            if outcome.failure_reason:
                status["failureReason"] = outcome.failure_reason
        await self.api.patch_status(TRIALS, self.namespace, name, status)
        if outcome.phase == TrialPhase.SUCCEEDED:
            message = f"trial {name}: objective {outcome.objective:.6g}, cost {outcome.cost:.6g}"
            self.post_event(self.body, "Normal", "TrialSucceeded", message)
            self._log("concluded Succeeded: objective %.6g, cost %.6g", outcome.objective,
                      outcome.cost, trial=name)
        else:
            kind = "TrialFailed" if outcome.phase == TrialPhase.FAILED else "TrialLost"
            self.post_event(self.body, "Warning", kind, f"trial {name}: {outcome.failure_reason}")
            self._log("concluded %s: %s", outcome.phase.value, outcome.failure_reason,
                      trial=name)
        if self.metrics is not None:
            outcome_name = outcome.phase.value.lower()
            self.metrics.record_trial_finished(self.namespace, self.name, outcome_name)
        trial_finished_hook(self.body, record, outcome)  # spec.tracking: queued, never waits
        return replace(
            record, phase=outcome.phase, metrics=dict(outcome.metrics),
            objective=outcome.objective, cost=outcome.cost,
            failure_reason=outcome.failure_reason, finished_at=time.time(),
        )

    async def _stop_trial(
        self, study: CarbsStudy, record: TrialRecord, reason: str
    ) -> TrialRecord:
        resource = resource_of(workload_kind(study.spec))
        await self.api.delete(resource, self.namespace, trial_name(self.name, record.index))
        return await self._finish(record, Outcome(TrialPhase.LOST, {}, None, None, reason))

    async def _still_ours(self, *, ask: bool = True) -> bool:
        """The study still exists as the object this reconciler serves, not being deleted.

        A pass that began before the study was deleted must not create trials afterwards:
        their owner would be gone, leaving them to the garbage collector at best. Asked of
        the server right before trials are created; `ask=False` reads the study as its last
        event showed it (before the engine is asked, to spare it a deleted study's work).
        """
        if self._stopped:
            return False
        if not ask:
            return not self.body["metadata"].get("deletionTimestamp")
        current = await self.api.get(STUDIES, self.namespace, self.name)
        return (
            current is not None
            and current["metadata"].get("uid") == self.body["metadata"].get("uid")
            and not current["metadata"].get("deletionTimestamp")
        )

    async def _create_job(
        self, study: CarbsStudy, trial: dict[str, Any], record: TrialRecord
    ) -> None:
        if self._stopped:
            return
        name = trial["metadata"]["name"]
        job = build_workload(self.name, self.namespace, name, record.index, study.spec,
                             record.params, owner_reference(trial))
        await self.api.create(resource_of(workload_kind(study.spec)), self.namespace, job)

    async def _start(
        self, body: dict[str, Any], study: CarbsStudy, records: list[TrialRecord], count: int
    ) -> list[TrialRecord]:
        """Suggest `count` points (in the worker pool) and create their trials."""
        if not await self._still_ours(ask=False):
            return []
        seeds = await self._seeds(study)
        began = time.perf_counter()
        answer = await suggest(self.engine_pool, body, [*seeds, *records], count,
                               device=self.device, fit_state=self._fit_state)
        elapsed = time.perf_counter() - began
        self._log("suggested %d trial(s) in %.3f s (%.3f s in the engine)", count, elapsed,
                  answer.seconds)
        if self.metrics is not None:
            self.metrics.observe_suggest(self.namespace, self.name, elapsed / max(count, 1))
        self._fit_state = answer.fit_state
        outputs = answer.outputs
        if self.metrics is not None:
            for output in outputs:
                if "gp_fit_seconds" in output["log"]:
                    fit = float(output["log"]["gp_fit_seconds"])
                    self.metrics.observe_gp_fit(self.namespace, self.name, fit)
        if not await self._still_ours():  # deleted while the engine was thinking
            return []
        next_index = max([r.index for r in records] + [self._next_index - 1]) + 1
        stamp = {SIGNATURE_ANNOTATION: encode(signature_parts(study.spec))}
        created: list[TrialRecord] = []
        for offset, output in enumerate(outputs):
            index = next_index + offset
            suggestion, output_log = output["suggestion"], output["log"]
            params = {k: v for k, v in suggestion.items() if k != SUGGESTION_ID_DICT_KEY}
            suggestion_id = str(suggestion[SUGGESTION_ID_DICT_KEY])
            kind = str(output_log.get("suggestion_kind", "bayesian"))
            name = trial_name(self.name, index)
            predicted = output_log.get("cost_estimate")
            manifest = trial_manifest(self.body, name, index, params, suggestion_id, kind,
                                      stamp, float(predicted) if predicted is not None else None)
            trial, fresh = await self.api.create(TRIALS, self.namespace, manifest)
            record = usable_record(trial)
            if record is None:  # a create answered without the object: read it back
                trial = await self.api.get(TRIALS, self.namespace, name) or {}
                record = usable_record(trial)
            if record is None:  # not there (yet): the next pass lists what exists
                self._log("created, but the API server returned no object; "
                          "the next pass reads it back", trial=name, level=logging.WARNING)
                break
            await self._create_job(study, trial, record)
            if fresh:
                self.post_event(self.body, "Normal", "TrialCreated",
                                f"trial {name}: {json.dumps(params, sort_keys=True)}")
                self._log("created: %s", json.dumps(params, sort_keys=True), trial=name)
            created.append(record)
        return created

    async def _seeds(self, study: CarbsStudy) -> list[TrialRecord]:
        """spec.warmStart: the finished trials of the source studies, read afresh before
        each suggestion (the sources may still be running)."""
        names = source_names(study.spec, self.name)
        if not names:
            self._warm_status = None
            return []
        sources: list[tuple[str, list[TrialRecord] | None]] = []
        for name in names:
            objects = await self.api.list_objects(TRIALS, self.namespace, f"{LABEL_STUDY}={name}")
            if not objects and await self.api.get(STUDIES, self.namespace, name) is None:
                sources.append((name, None))
                continue
            sources.append((name, [r for r in map(usable_record, objects) if r is not None]))
        seeds = seed_records(study.spec, sources)
        status = WarmStartStatus(trials=len(seeds.records), skipped_trials=seeds.skipped,
                                 missing_studies=seeds.missing_studies)
        if status != self._warm_status:
            self._log("warm start from %s: %d trial(s) observed, %d skipped%s",
                      ", ".join(names), status.trials, status.skipped_trials,
                      f", not found: {', '.join(status.missing_studies)}"
                      if status.missing_studies else "")
        self._warm_status = status
        return seeds.records
