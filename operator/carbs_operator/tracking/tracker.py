"""StudyTracker: what the local runner and the operator call; all of it is non-blocking.

One worker thread per tracker (worker.py) plus one "views" worker that turns the trial
records into what trackers show (frontier membership, the frontier plot, the laws: the
study's derived view, i.e. the same frontier and laws `carbs frontier` prints) and hands
each tracker its tasks. The operator calls this module, so it imports no tuning/ or ui/;
the frontier plot comes from reports.plots (matplotlib), only in a process whose study
asked for a tracker. The caller's thread only records the trial and queues.

- `trial_env(record)`: env vars for a trial about to start (tracking URI, experiment,
  parent run id once known, W&B project and group). Never waits.
- `trial_finished(record)`: queue the trial's run, and a refresh of the study's artifacts
  (at most one per `refresh_seconds`, and always at close).
- `close()`: a last refresh, then each tracker is given `flush_seconds` at most.

`trial_finished_hook()` is the operator's entry (k8s/reconciler.py calls it where a trial
finishes): one tracker per study with spec.tracking, kept for the operator's life.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from carbs_operator.models import CarbsStudy
from carbs_operator.study import TrialRecord, best_trial, trial_name
from carbs_operator.tracking.records import (
    TrialEntry,
    finished,
    frontier_document,
    laws_document,
    study_key,
    trial_entry,
)
from carbs_operator.tracking.worker import TrackerWorker

log = logging.getLogger(__name__)
REFRESH_SECONDS = 10.0
START_WAIT_SECONDS = 2.0


class Sink(Protocol):
    name: str

    def trial_env(self) -> dict[str, str]: ...
    def start(self) -> None: ...
    def log_trial(self, entry: TrialEntry) -> None: ...
    def refresh(self, snapshot: dict[str, Any]) -> None: ...
    def close(self, final: bool) -> None: ...


class StudyTracker:
    def __init__(self, study: CarbsStudy, *, namespace: str = "local",
                 directory: Path | None = None, refresh_seconds: float = REFRESH_SECONDS,
                 plot: bool = True) -> None:
        self.study = study
        self.name = study.metadata.name or "study"
        self.namespace = namespace
        self.key = study_key(namespace, self.name)
        self.directory = directory
        self.refresh_seconds = refresh_seconds
        self.plot = plot
        self.records: dict[int, TrialRecord] = {}
        self.sinks: list[tuple[Sink | None, TrackerWorker, str]] = []
        self._holders: list[list[Sink | None]] = []
        self._kinds: list[str] = []
        self._last_refresh = float("-inf")
        self.views = TrackerWorker("views")
        tracking = study.spec.tracking
        kinds = [] if tracking is None else [
            kind for kind, config in (("mlflow", tracking.mlflow), ("wandb", tracking.wandb))
            if config is not None]
        for kind in kinds:
            holder: list[Sink | None] = [None]
            worker = TrackerWorker(kind)
            # The backend's package is imported in its own thread: `import mlflow` alone
            # takes seconds, and the operator's event loop must not wait for it.
            worker.submit("start", partial(self._start, kind, holder), retries=2)
            self._holders.append(holder)
            self._kinds.append(kind)
            self.sinks.append((None, worker, kind))

    # -- the caller's side ---------------------------------------------------------------
    def wait_started(self, seconds: float = START_WAIT_SECONDS) -> None:
        """Give the trackers `seconds` (at most) to set up the study's parent run, so the
        first trials' env can name it. A tracker that is down costs this wait once."""
        deadline = time.monotonic() + seconds
        for _, worker, _ in self.sinks:
            worker.wait_idle(max(0.0, deadline - time.monotonic()))

    def trial_env(self, record: TrialRecord) -> dict[str, str]:
        """What the spec says (never waits), plus the parent run id once a tracker has it."""
        env = tracking_env(self.study, trial_name(self.name, record.index))
        for holder in self._holders:
            sink = holder[0]
            if sink is not None:
                env.update(sink.trial_env())
        return env

    def trial_finished(self, record: TrialRecord) -> None:
        if not self.sinks or not record.phase.is_finished:
            return
        self.records[record.index] = record
        self.views.submit(f"trial {record.index}", lambda: self._publish(record.index),
                          retries=0)

    def close(self, flush_seconds: float = 10.0) -> None:
        if not self.sinks:
            self.views.close(0.0)
            return
        deadline = time.monotonic() + flush_seconds
        self.views.submit("final refresh", lambda: self._refresh(force=True), retries=0)
        self.views.close(flush_seconds)
        for holder, (_, worker, _) in zip(self._holders, self.sinks, strict=True):
            worker.submit("close", partial(_close, holder), retries=0)
            worker.close(max(0.0, deadline - time.monotonic()))

    # -- the views worker ----------------------------------------------------------------
    def _start(self, kind: str, holder: list[Sink | None]) -> None:
        if holder[0] is not None:
            return
        sink = _make_sink(kind, self.study, self.key, self.name, self.directory)
        sink.start()
        holder[0] = sink  # only a tracker that answered counts as started

    def _live(self) -> bool:
        """Whether any tracker started or is still starting; while every one has failed,
        restart them and skip the views work (a frontier and a plot nobody can receive
        only cost the study CPU). A trial finished meanwhile is not sent (dropped)."""
        if any(holder[0] is not None or worker.healthy
               for holder, (_, worker, _) in zip(self._holders, self.sinks, strict=True)):
            return True
        for kind, holder, (_, worker, _) in zip(self._kinds, self._holders, self.sinks,
                                                 strict=True):
            worker.submit("restart", partial(self._start, kind, holder), retries=0)
        return False

    def _publish(self, index: int) -> None:
        if not self._live():
            return
        from carbs_operator.frontier import pareto_frontier

        done = finished(self.records)
        members = {t.index for t in pareto_frontier(self.study.spec, done,
                                                    limit=max(len(done), 2))}
        record = self.records[index]
        entry = trial_entry(self.study.spec, self.namespace, self.name, record,
                            index in members)
        for holder, (_, worker, _) in zip(self._holders, self.sinks, strict=True):
            worker.submit(f"trial {entry.name}", partial(_log_trial, holder, entry))
        self._refresh(force=False)

    def _refresh(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_refresh < self.refresh_seconds:
            return
        if not self._live():
            return
        self._last_refresh = now
        snapshot = study_snapshot(self.study, finished(self.records), self.namespace,
                                  plot=self.plot)
        for holder, (_, worker, _) in zip(self._holders, self.sinks, strict=True):
            worker.refresh(partial(_refresh_sink, holder, snapshot))


def tracking_env(study: CarbsStudy, trial: str | None = None) -> dict[str, str]:
    """The env vars spec.tracking gives every trial, from the spec alone: where to log and
    under which group (a run the training function starts then lands beside the study's)."""
    tracking = study.spec.tracking
    name = study.metadata.name or "study"
    env: dict[str, str] = {}
    if tracking is not None and tracking.mlflow is not None:
        env["MLFLOW_TRACKING_URI"] = tracking.mlflow.tracking_uri
        env["MLFLOW_EXPERIMENT_NAME"] = tracking.mlflow.experiment or name
    if tracking is not None and tracking.wandb is not None:
        env.update({"WANDB_PROJECT": tracking.wandb.project,
                    "WANDB_MODE": tracking.wandb.mode.value, "WANDB_RUN_GROUP": name})
        if tracking.wandb.entity:
            env["WANDB_ENTITY"] = tracking.wandb.entity
        if trial is not None:
            env["WANDB_NAME"] = trial
    return env


def parent_env(study: CarbsStudy, namespace: str,
               wait_seconds: float = START_WAIT_SECONDS * 2) -> dict[str, str]:
    """MLFLOW_PARENT_RUN_ID for a study about to be applied to a cluster: tune() finds or
    creates the parent run (waiting `wait_seconds` at most) so that it can go into the
    trial container's env; the operator's tracker later finds the same run by its tags.
    {} without spec.tracking.mlflow, or when the server does not answer in time."""
    tracking = study.spec.tracking
    if tracking is None or tracking.mlflow is None:
        return {}
    config = tracking.mlflow
    name = study.metadata.name or "study"
    found: list[str] = []

    def start() -> None:
        from carbs_operator.tracking.mlflow_sink import MlflowSink

        sink = MlflowSink(config, study_key(namespace, name), name)
        sink.start()
        found.append(str(sink.parent_id))

    worker = TrackerWorker("mlflow-parent")
    worker.submit("parent run", start, retries=0)
    worker.wait_idle(wait_seconds)
    worker.close(0.0)
    return {"MLFLOW_PARENT_RUN_ID": found[0]} if found else {}


def study_snapshot(study: CarbsStudy, trials: Sequence[TrialRecord], namespace: str, *,
                   plot: bool = True) -> dict[str, Any]:
    """What a refresh sends: artifact files (bytes), summary metrics, frontier indices.
    The frontier and laws are the study's derived view (study_view, what `carbs frontier`
    and the status show), the figure `carbs plot`'s."""
    from carbs_operator.study_view import build_view

    spec = study.spec
    name = study.metadata.name or "study"
    view = build_view(spec, trials, name=name, namespace=namespace)
    frontier = list(view.frontier)
    files: dict[str, bytes] = {
        "frontier.json": json.dumps(frontier_document(spec, frontier), indent=1).encode(),
        "laws.json": json.dumps(laws_document(view.laws), indent=1).encode(),
    }
    if plot:  # matplotlib, only in a process whose study asked for a tracker
        import io

        from carbs_operator.reports.plots import study_figure

        buffer = io.BytesIO()
        study_figure(spec, trials, study=name).savefig(buffer, format="png")
        files["frontier.png"] = buffer.getvalue()
    summary: dict[str, float] = {"trials_finished": float(len(trials)),
                                 "frontier_points": float(len(frontier))}
    best = best_trial(spec, trials)
    if best is not None and best.objective is not None and best.cost is not None:
        summary["best_objective"] = best.objective
        summary["best_cost"] = best.cost
    return {"files": files, "summary": summary, "finished": len(trials),
            "frontier": sorted(t.index for t in frontier), "metric": spec.objective.metric}


def _make_sink(kind: str, study: CarbsStudy, key: str, name: str,
               directory: Path | None) -> Sink:
    tracking = study.spec.tracking
    assert tracking is not None
    if kind == "mlflow":
        from carbs_operator.tracking.mlflow_sink import MlflowSink

        assert tracking.mlflow is not None
        return MlflowSink(tracking.mlflow, key, name)
    from carbs_operator.tracking.wandb_sink import WandbSink

    assert tracking.wandb is not None
    return WandbSink(tracking.wandb, key, name, directory)


def _sink(holder: list[Sink | None]) -> Sink:
    if holder[0] is None:
        raise RuntimeError("the tracker never started (see the first warning)")
    return holder[0]


def _close(holder: list[Sink | None]) -> None:
    if holder[0] is not None:
        holder[0].close(final=True)


def _log_trial(holder: list[Sink | None], entry: TrialEntry) -> None:
    _sink(holder).log_trial(entry)


def _refresh_sink(holder: list[Sink | None], snapshot: dict[str, Any]) -> None:
    _sink(holder).refresh(snapshot)


# -- the operator's hook ---------------------------------------------------------------
_TRACKERS: dict[tuple[str, str], tuple[str, StudyTracker]] = {}


def trial_finished_hook(body: Mapping[str, Any], record: TrialRecord, outcome: Any) -> None:
    """Called by the operator where a trial finishes; returns at once and never raises.
    `outcome` is the study.Outcome the reconciler recorded for `record`."""
    try:
        spec = body.get("spec") or {}
        if not spec.get("tracking"):
            return
        metadata = body.get("metadata") or {}
        key = (str(metadata.get("namespace")), str(metadata.get("name")))
        signature = json.dumps(spec.get("tracking"), sort_keys=True)
        known = _TRACKERS.get(key)
        if known is None or known[0] != signature:
            from carbs_operator.validation import parse_study

            if known is not None:
                known[1].close(0.0)
            tracker = StudyTracker(parse_study(body), namespace=key[0])
            _TRACKERS[key] = (signature, tracker)
        else:
            tracker = known[1]
        tracker.trial_finished(replace(
            record, phase=outcome.phase, metrics=dict(outcome.metrics),
            objective=outcome.objective, cost=outcome.cost,
            failure_reason=outcome.failure_reason, finished_at=time.time()))
    except Exception as error:  # tracking must never break the operator
        log.warning("tracking: trial %s not sent: %r", record.index, error)
