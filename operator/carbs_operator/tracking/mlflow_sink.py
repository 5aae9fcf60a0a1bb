"""MLflow: a parent run per study, a child run per trial, artifacts on the parent.

Every method here runs in the tracker's worker thread (worker.py), never on the study's
path. The parent is found by its tags (`carbs.study`, `carbs.role=study`) before one is
created, so a resumed study, a restarted operator and a tune() that created it ahead all
log under the same parent. A trial's run is likewise found by its `carbs.trial` tag under
that parent before one is created: a training function that started its own run with
`mlflow.start_run(parent_run_id=os.environ["MLFLOW_PARENT_RUN_ID"],
tags={"carbs.trial": os.environ["CARBS_TRIAL"]})` gets the study's parameters, metrics and
tags in that same run.

Timeouts: MLflow's HTTP client reads MLFLOW_HTTP_REQUEST_TIMEOUT and
MLFLOW_HTTP_REQUEST_MAX_RETRIES; unless the environment sets them, this process uses 5 s
and 0 (the worker does its own, bounded, retrying).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from carbs_operator.models.tracking import MlflowTracking
from carbs_operator.tracking.records import (
    TAG_FRONTIER,
    TAG_ROLE,
    TAG_STUDY,
    TAG_TRIAL,
    TrialEntry,
)

HTTP_TIMEOUT_SECONDS = "5"
PARENT_TAG = "mlflow.parentRunId"
BATCH = 1000  # MLflow's limit of metrics per log_batch


class MlflowSink:
    name = "mlflow"

    def __init__(self, config: MlflowTracking, key: str, study: str) -> None:
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", HTTP_TIMEOUT_SECONDS)
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=config.tracking_uri)
        self.uri = config.tracking_uri
        self.experiment_name = config.experiment or study
        self.key = key
        self.study = study
        self.experiment_id: str | None = None
        self.parent_id: str | None = None
        self.runs: dict[int, str] = {}
        self.frontier: dict[int, bool] = {}

    def trial_env(self) -> dict[str, str]:
        """The parent run's id, for runs the training function starts (tracker.py adds
        the URI and experiment, which need no server)."""
        return {} if self.parent_id is None else {"MLFLOW_PARENT_RUN_ID": self.parent_id}

    def start(self) -> None:
        """The experiment and the study's parent run: found, else created."""
        if self.parent_id is not None:
            return
        experiment = self.client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            try:
                self.experiment_id = str(self.client.create_experiment(self.experiment_name))
            except Exception:  # created meanwhile by another process: read it
                experiment = self.client.get_experiment_by_name(self.experiment_name)
                if experiment is None:
                    raise
        if experiment is not None:
            self.experiment_id = str(experiment.experiment_id)
        assert self.experiment_id is not None
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG_STUDY}` = '{self.key}' and tags.`{TAG_ROLE}` = 'study'",
            max_results=1)
        if found:
            self.parent_id = found[0].info.run_id
            return
        run = self.client.create_run(self.experiment_id, run_name=self.study,
                                     tags={TAG_STUDY: self.key, TAG_ROLE: "study"})
        self.parent_id = run.info.run_id

    def log_trial(self, entry: TrialEntry) -> None:
        from mlflow.entities import Metric, Param, RunTag

        self.start()
        run_id = self._trial_run(entry)
        now = int(time.time() * 1000)
        last = entry.steps[-1][0] if entry.steps else 0
        metrics = [Metric(key, value, now, step) for step, values in entry.steps
                   for key, value in values.items()]
        # The final values at the curve's last step, a millisecond later: MLflow's latest
        # value of a metric is the one with the highest (step, timestamp).
        metrics += [Metric(key, value, now + 1, last) for key, value in entry.metrics.items()]
        have = self.client.get_run(run_id).data.params
        params = [Param(key, str(value)) for key, value in entry.params.items()
                  if key not in have]
        tags = [RunTag(key, value) for key, value in entry.tags.items()]
        for start in range(0, max(len(metrics), 1), BATCH):
            self.client.log_batch(run_id, metrics=metrics[start:start + BATCH],
                                  params=params if start == 0 else [],
                                  tags=tags if start == 0 else [])
        status = "FINISHED" if entry.tags.get("carbs.phase") in ("Succeeded", "EarlyStopped") \
            else "FAILED"
        self.client.set_terminated(run_id, status=status)
        self.frontier[entry.index] = entry.tags.get(TAG_FRONTIER) == "true"

    def _trial_run(self, entry: TrialEntry) -> str:
        if entry.index in self.runs:
            return self.runs[entry.index]
        assert self.experiment_id is not None
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.`{TAG_TRIAL}` = '{entry.name}' and "
                          f"tags.`{PARENT_TAG}` = '{self.parent_id}'",
            max_results=1)
        if found:
            run_id = str(found[0].info.run_id)
        else:
            run = self.client.create_run(
                self.experiment_id, run_name=entry.name,
                tags={PARENT_TAG: str(self.parent_id), TAG_TRIAL: entry.name})
            run_id = str(run.info.run_id)
        self.runs[entry.index] = run_id
        return run_id

    def refresh(self, snapshot: dict[str, Any]) -> None:
        """The parent's artifacts (frontier plot, laws, frontier), its summary metrics, and
        the frontier tag of each trial run whose membership changed."""
        self.start()
        assert self.parent_id is not None
        members = set(snapshot["frontier"])
        for index, run_id in self.runs.items():
            member = index in members
            if self.frontier.get(index) != member:
                self.client.set_tag(run_id, TAG_FRONTIER, "true" if member else "false")
                self.frontier[index] = member
        with tempfile.TemporaryDirectory(prefix="carbs-mlflow-") as folder:
            for name, data in snapshot["files"].items():
                path = Path(folder) / name
                path.write_bytes(data)
                self.client.log_artifact(self.parent_id, str(path), artifact_path="carbs")
        # The summary last: a reader that sees trials_finished=n sees the rest of refresh n.
        now = int(time.time() * 1000)
        for key, value in snapshot["summary"].items():
            self.client.log_metric(self.parent_id, key, value, now, snapshot["finished"])

    def close(self, final: bool) -> None:
        if final and self.parent_id is not None:
            self.client.set_terminated(self.parent_id, status="FINISHED")
