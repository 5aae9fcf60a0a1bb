"""tune() on this machine: `carbs run`'s LocalRunner and progress display, as they are.

Trials run with the caller's working directory as theirs, so relative paths in fn mean
what they mean in the notebook. Ctrl-C (a notebook's interrupt) stops the running trials
as it does for `carbs run` and leaves the state to resume from: call tune() again.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from rich.console import Console

from carbs_operator.local.display import RunDisplay
from carbs_operator.local.runner import LocalRunner
from carbs_operator.local.warm import describe, local_seeds
from carbs_operator.models import CarbsStudy
from carbs_operator.study import Decision, TrialRecord
from carbs_operator.tuning.manifest import manifest_of
from carbs_operator.tuning.result import TuneResult


def manifest_path(state_dir: Path, name: str) -> Path:
    """Where tune() keeps the manifest beside the study's state, for the `carbs` commands."""
    return state_dir / f"{name}.yaml"


def write_manifest(study: CarbsStudy, state_dir: Path) -> Path:
    path = manifest_path(state_dir, study.metadata.name or "study")
    state_dir.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.safe_dump(manifest_of(study), sort_keys=False, width=100),
                         encoding="utf-8")
    os.replace(temporary, path)
    return path


def run_locally(study: CarbsStudy, state_dir: Path, *, progress: bool = True,
                device: str = "auto", flush_seconds: float = 10.0) -> TuneResult:
    """Run (or resume) the study with the local runner and return its result. With
    spec.tracking, trackers get the trials off the runner's path (carbs_operator.tracking);
    at the end they get `flush_seconds` at most (none once a tracker has failed)."""
    name = study.metadata.name or "study"
    write_manifest(study, state_dir)
    console = Console(soft_wrap=True, quiet=not progress)
    seeds = local_seeds(study, state_dir)
    if study.spec.warm_start is not None:
        console.print(describe(seeds), markup=False)
    tracker = None
    if study.spec.tracking is not None:
        from carbs_operator.tracking.tracker import StudyTracker

        tracker = StudyTracker(study, directory=state_dir / name)
        tracker.wait_started()
    try:
        with RunDisplay(name, console) as shown:

            def on_update(decision: Decision, trials: list[TrialRecord]) -> None:
                shown.update(study.spec, trials, decision)

            runner = LocalRunner(
                study, Path.cwd(), state_dir, device=device, on_update=on_update,
                seed_trials=seeds.records,
                on_finished=None if tracker is None else tracker.trial_finished,
                trial_env=None if tracker is None else tracker.trial_env)
            trials = runner.run()
    finally:
        if tracker is not None:
            tracker.close(flush_seconds)
    result = TuneResult(study, trials)
    console.print(f"study {name}: {result.message}", markup=False)
    return result
