"""Weights & Biases: the MLflow mapping, with W&B's words.

A group per study (the study's name). Per trial, a run with id and name `<study>-<index>`
(the trial's name), job type `trial`, its parameters as config, its curve as logged steps
and its final metrics as one step after them (so the summary holds them), its tags
(`carbs.*`) in the summary, and its phase and frontier
membership (at the time it finished) as run tags. Per study, one run with id
`<study>-study`, job type `study`, open for the whole study: each refresh logs the frontier
plot (an image), the frontier and the laws (tables) and the summary metrics, at the
number of finished trials as step. W&B cannot change a finished run's tags offline, so a
trial's `carbs.frontier` tag is as of its end; the study run's frontier table is current.

Runs the training function starts itself land in the same group: trials get WANDB_PROJECT,
WANDB_ENTITY, WANDB_MODE, WANDB_RUN_GROUP and WANDB_NAME (the trial's name). Runs here use
W&B's own init timeout (INIT_TIMEOUT_SECONDS); offline mode never touches the network.
Every method runs in the tracker's worker thread.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from carbs_operator.models.tracking import WandbTracking
from carbs_operator.tracking.records import TrialEntry

INIT_TIMEOUT_SECONDS = 30.0


class WandbSink:
    name = "wandb"

    def __init__(self, config: WandbTracking, key: str, study: str,
                 directory: Path | None = None) -> None:
        import wandb

        self.wandb = wandb
        self.config = config
        self.key = key
        self.study = study
        self.directory = directory
        self.study_run: Any = None
        self.step = 0

    def trial_env(self) -> dict[str, str]:
        return {}  # all of W&B's env comes from the spec (tracker.tracking_env)

    def _init(self, **kw: Any) -> Any:
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
        return self.wandb.init(
            project=self.config.project, entity=self.config.entity, group=self.study,
            mode=self.config.mode.value, reinit="create_new", resume="allow",
            dir=str(self.directory) if self.directory is not None else None,
            settings=self.wandb.Settings(init_timeout=INIT_TIMEOUT_SECONDS, silent=True,
                                         console="off", x_disable_stats=True),
            **kw)

    def start(self) -> None:
        if self.study_run is None:
            self.study_run = self._init(id=_run_id(f"{self.study}-study"), name=self.study,
                                        job_type="study", config={"carbs.study": self.key})

    def log_trial(self, entry: TrialEntry) -> None:
        tags = [entry.tags["carbs.phase"]]
        if entry.tags.get("carbs.frontier") == "true":
            tags.append("frontier")
        run = self._init(id=_run_id(entry.name), name=entry.name, job_type="trial",
                         config=dict(entry.params), tags=tags)
        try:
            for step, values in entry.steps:
                run.log(values, step=step)
            # The final metrics as one step after the curve: W&B's summary of a key is its
            # last logged value, which must be the result, not the curve's last point.
            run.log(dict(entry.metrics), step=entry.steps[-1][0] + 1 if entry.steps else 0)
            run.summary.update(dict(entry.tags))
        finally:
            run.finish(exit_code=0 if entry.tags["carbs.phase"] in ("Succeeded",
                                                                     "EarlyStopped") else 1)

    def refresh(self, snapshot: dict[str, Any]) -> None:
        self.start()
        wandb = self.wandb
        files = snapshot["files"]
        data: dict[str, Any] = dict(snapshot["summary"])
        if "frontier.png" in files:
            from PIL import Image

            data["frontier_plot"] = wandb.Image(Image.open(io.BytesIO(files["frontier.png"])))
        frontier = json.loads(files["frontier.json"])
        data["frontier"] = wandb.Table(
            columns=["trial", "objective", "cost", "params"],
            data=[[row["trial"], row.get(snapshot["metric"]), row["cost"],
                   json.dumps(row["params"])] for row in frontier])
        laws = json.loads(files["laws.json"])
        data["laws"] = wandb.Table(columns=["parameter", "law"],
                                   data=[[law.get("parameter"), json.dumps(law)]
                                         for law in laws])
        self.step = max(self.step + 1, int(snapshot["finished"]))
        self.study_run.log(data, step=self.step)
        self.study_run.summary.update({"frontier_trials": json.dumps(snapshot["frontier"])})

    def close(self, final: bool) -> None:
        if self.study_run is not None:
            self.study_run.finish()
            self.study_run = None


def _run_id(name: str) -> str:
    """W&B run ids: letters, digits, `-` and `_`; trial names already are."""
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:128]
