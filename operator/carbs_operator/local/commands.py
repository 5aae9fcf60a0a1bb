"""`carbs run`, `carbs frontier` and `carbs plot`: the local runner with its display,
metrics and reports around it."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from carbs_operator.local.store import StoreError, TrialStore
from carbs_operator.local.warm import describe, local_seeds
from carbs_operator.models import CarbsStudy, StudySpec, TrialPhase
from carbs_operator.study import Decision, StopReason, TrialRecord, study_decision
from carbs_operator.study_view import StudyView, build_view
from carbs_operator.validation import ManifestError, load_study
from carbs_optimizer import ScalingLaw

LOCAL_NAMESPACE = "local"
EXIT_OK, EXIT_PROBLEMS, EXIT_INTERRUPTED = 0, 1, 130


def _load(path: Path, console: Console) -> CarbsStudy | None:
    try:
        return load_study(path)
    except ManifestError as error:
        for problem in error.problems:
            console.print(f"{path}: {problem}", markup=False, highlight=False)
        return None


def _report(study: CarbsStudy, trials: list[TrialRecord], console: Console) -> None:
    from carbs_operator.reports.tables import render_report

    render_report(local_view(study, trials), console)


def local_view(study: CarbsStudy, trials: Sequence[TrialRecord]) -> StudyView:
    """The study view of a local study (no previous status: a local run keeps none)."""
    return build_view(study.spec, trials, name=study.metadata.name or "study",
                      namespace=LOCAL_NAMESPACE)


class _LawsBySuccesses:
    """The study's laws for its metrics, refitted only when a success was added: a runner
    updates its display many times a second, a law changes once a trial ends."""

    def __init__(self, spec: StudySpec) -> None:
        self.spec = spec
        self._key: tuple[tuple[int, float | None, float | None], ...] | None = None
        self._laws: list[ScalingLaw] = []

    def __call__(self, trials: Sequence[TrialRecord]) -> list[ScalingLaw]:
        key = tuple((t.index, t.objective, t.cost) for t in trials
                    if t.phase == TrialPhase.SUCCEEDED)
        if key != self._key:
            from carbs_operator.study_laws import study_law_fit

            self._key, self._laws = key, list(study_law_fit(self.spec, trials).scaling_laws())
        return self._laws


def ui_command(state_dir: Path) -> str:
    """The one command that serves this state directory's studies in a browser."""
    return "carbs ui" if state_dir == Path(".carbs") else f"carbs ui {shlex.quote(str(state_dir))}"


def ui_url(name: str, port: int = 8080) -> str:
    return f"http://127.0.0.1:{port}/#/study/{name}"


def state_path(state_dir: Path, study: CarbsStudy) -> Path:
    return state_dir / f"{study.metadata.name}.db"


def run_command(
    path: Path, state_dir: Path, metrics_port: int | None = None, device: str = "auto",
    warm_start: Sequence[Path] = (),
) -> int:
    """Run (or resume) the study; 0 when it completed, 1 when it failed or cannot run."""
    from prometheus_client import CollectorRegistry

    from carbs_operator.local.display import RunDisplay
    from carbs_operator.local.runner import LocalRunner
    from carbs_operator.metrics import StudyMetrics, serve
    from carbs_operator.template import local_run_note
    from carbs_operator.tracking.tracker import StudyTracker

    console = Console(soft_wrap=True)
    study = _load(path, console)
    if study is None or any(_load(other, console) is None for other in warm_start):
        return EXIT_PROBLEMS
    name = study.metadata.name or "study"
    seeds = local_seeds(study, state_dir, warm_start)
    if warm_start or study.spec.warm_start is not None:
        console.print(describe(seeds), markup=False)
    note = local_run_note(study.spec)
    if note is not None:
        console.print(note, markup=False)
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    server = serve(registry, metrics_port) if metrics_port is not None else None
    if server is not None:
        console.print(f"metrics on http://127.0.0.1:{server.port}/metrics")
    console.print(f"watch it live: {ui_command(state_dir)}  (then open "
                  f"{ui_url(name)})", markup=False, highlight=False)
    tracker = StudyTracker(study, directory=state_dir / name)
    tracker.wait_started()
    try:
        with RunDisplay(name, console) as progress:

            laws = _LawsBySuccesses(study.spec)

            def on_update(decision: Decision, trials: list[TrialRecord]) -> None:
                progress.update(study.spec, trials, decision)
                metrics.update_study(LOCAL_NAMESPACE, name, study.spec, trials,
                                     laws=laws(trials) if server is not None else None)

            def on_finished(trial: TrialRecord) -> None:
                metrics.record_trial_finished(LOCAL_NAMESPACE, name, trial.phase.value.lower())
                tracker.trial_finished(trial)  # spec.tracking (a no-op without it)

            runner = LocalRunner(
                study, path.parent, state_dir, device=device, on_update=on_update,
                on_finished=on_finished,
                on_suggest=lambda s: metrics.observe_suggest(LOCAL_NAMESPACE, name, s),
                on_gp_fit=lambda s: metrics.observe_gp_fit(LOCAL_NAMESPACE, name, s),
                seed_trials=seeds.records, trial_env=tracker.trial_env,
            )
            trials = runner.run()
    except StoreError as error:
        console.print(f"error: {error}", markup=False)
        return EXIT_PROBLEMS
    except KeyboardInterrupt:
        console.print(
            f"interrupted; state kept in {state_path(state_dir, study)}: run the same command "
            "to resume"
        )
        return EXIT_INTERRUPTED
    finally:
        tracker.close()
        if server is not None:
            server.shutdown()
    _report(study, trials, console)
    decision = study_decision(study.spec, trials)
    console.print(f"study {name}: {decision.message}", markup=False)
    console.print(f"state: {state_path(state_dir, study)}", markup=False)
    return EXIT_PROBLEMS if decision.stop_reason == StopReason.TOO_MANY_FAILURES else EXIT_OK


def _stored_trials(path: Path, state_dir: Path, console: Console) -> tuple[
    CarbsStudy | None, list[TrialRecord]
]:
    study = _load(path, console)
    if study is None:
        return None, []
    db = state_path(state_dir, study)
    if not db.exists():
        console.print(f"no state for study {study.metadata.name} in {state_dir} (run it first)")
        return None, []
    with TrialStore(db) as store:
        return study, store.trials()


def frontier_command(path: Path, state_dir: Path, *, as_json: bool = False) -> int:
    console = Console(soft_wrap=True)
    study, trials = _stored_trials(path, state_dir, console)
    if study is None:
        return EXIT_PROBLEMS
    if as_json:
        import json

        from carbs_operator.view_json import frontier_json

        print(json.dumps(frontier_json(local_view(study, trials)), indent=2))
        return EXIT_OK
    _report(study, trials, console)
    console.print(f"study {study.metadata.name}: {study_decision(study.spec, trials).message}")
    return EXIT_OK


def plot_command(path: Path, state_dir: Path, output: Path, *, curves: bool = False) -> int:
    console = Console(soft_wrap=True)
    study, trials = _stored_trials(path, state_dir, console)
    if study is None:
        return EXIT_PROBLEMS
    from carbs_operator.reports.plots import plot_study

    plot_study(study.spec, trials, output, study=study.metadata.name, curves=curves)
    print(f"wrote {output}", file=sys.stdout)
    return EXIT_OK
