"""`carbs run`: a study on one machine, trials as local processes, state in SQLite.

Restart rule (documented in the README). When `carbs run` starts on existing state, each
trial the state shows in flight is settled before anything new starts:

- its launcher still runs (the trial lock is held): adopted, and awaited like any other;
- it ended while no runner watched (exit.json present): concluded from its files;
- its launcher was killed (started.json, no exit.json, lock free): concluded from its result
  file if it reported one, else marked Lost;
- it never launched (no started.json): launched now, under its own index and parameters.

A Lost trial does not count toward maxTrials or maxFailedTrials; the engine forgets its
suggestion and a new trial (a new index) takes its place. No index ever runs twice.
Ctrl-C stops the running trials (SIGTERM, then SIGKILL after a grace period) and marks them
Lost; a kill -9 of the runner leaves them running, to be adopted by the next `carbs run`.

While a trial runs, each poll reads the new part of its output.log for progress lines
(watch.py, bounded) and keeps its learning curve in its row. With spec.earlyStopping, a trial
the rule stops is recorded EarlyStopped (reason, point, cost so far) before its process gets
SIGTERM, and SIGKILL after the grace period (the pod's terminationGracePeriodSeconds, else
30 s). A restarted runner that finds such a row with its process still alive finishes the
stop; it never decides about that trial again, nor runs it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from carbs_operator.collectors import collect, uses_output
from carbs_operator.early_stopping import StopDecision
from carbs_operator.local import launcher as files
from carbs_operator.local import watch
from carbs_operator.local.store import TrialStore
from carbs_operator.local.trial_files import (
    last_output_line,
    lock_is_held,
    output_text,
    read_text,
)
from carbs_operator.models import (
    CarbsStudy,
    RunningTrialsPolicy,
    SuggestionKind,
    TrialPhase,
)
from carbs_operator.replay import build_engine, observe_trial
from carbs_operator.study import (
    Decision,
    TrialRecord,
    conclude_trial,
    measured_cost,
    study_decision,
    trial_name,
)
from carbs_operator.template import (
    ENV_RESULT_FILE,
    TemplateError,
    render_command,
    render_env,
    requested_gpus,
)
from carbs_operator.trial_progress import SILENCE_SECONDS, stop_decision, stopped_cost
from carbs_optimizer import SUGGESTION_ID_DICT_KEY

INTERRUPTED = "interrupted: carbs run was stopped while the trial ran"


@dataclass
class _Flight:
    """A trial in flight: our own launcher process, or an adopted one (process None).

    `read` is how far its output.log was read for progress. `judged` is what the stopping
    rule last saw (the curve's end, the number of finished trials), so an unchanged trial
    is not judged again. `kill_at` is set once the trial is being stopped early: the
    monotonic time after which the runner SIGKILLs what is left of it.
    """

    record: TrialRecord
    directory: Path
    process: subprocess.Popen[bytes] | None
    read: watch.ReadState = field(default_factory=watch.ReadState)
    judged: tuple[Any, ...] | None = None
    kill_at: float | None = None


def local_command(command: list[str]) -> list[str]:
    """`python`/`python3` mean the interpreter running `carbs run`: in the image they name the
    image's Python; here, the environment that has the training dependencies installed."""
    if command and command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return command


def _positive(value: Any) -> float | None:
    """The engine's predicted cost when it is a usable one."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        number = float(value)
        return number if number < float("inf") else None
    return None


class LocalRunner:
    """Runs one study to completion; `run()` returns the final trial records."""

    def __init__(
        self,
        study: CarbsStudy,
        manifest_dir: Path,
        state_dir: Path,
        *,
        device: str = "auto",
        poll_seconds: float = 0.2,
        grace_seconds: float | None = None,
        silent_after: float = SILENCE_SECONDS,
        on_update: Callable[[Decision, list[TrialRecord]], None] | None = None,
        on_finished: Callable[[TrialRecord], None] | None = None,
        on_suggest: Callable[[float], None] | None = None,
        on_gp_fit: Callable[[float], None] | None = None,
        seed_trials: Sequence[TrialRecord] = (),
        trial_env: Callable[[TrialRecord], Mapping[str, str]] | None = None,
    ) -> None:
        self.study = study
        self.spec = study.spec
        self.name = study.metadata.name or "study"
        self.manifest_dir = manifest_dir.resolve()
        self.state_dir = state_dir
        self.trials_dir = state_dir / self.name
        self.store = TrialStore(state_dir / f"{self.name}.db")
        self.device = device
        self.poll_seconds = poll_seconds
        self.grace_seconds = (watch.grace_seconds(self.spec) if grace_seconds is None
                              else grace_seconds)
        self.silent_after = silent_after
        self.gpus = requested_gpus(self.spec)
        self.on_update = on_update
        self.on_finished = on_finished
        self.on_suggest = on_suggest
        self.on_gp_fit = on_gp_fit
        self.trial_env = trial_env  # extra env per trial (spec.tracking's run ids)
        self.flights: dict[int, _Flight] = {}
        self._stop_reason: str | None = None
        self.store.bind_study(self.name, self.spec)
        trials = self.store.trials()
        # Warm-start seeds (negative indices) are observed first; they are never stored here.
        self.engine = build_engine(self.spec, [*seed_trials, *trials], device)
        self._recover(trials)

    # -- the loop ------------------------------------------------------------------------
    def run(self) -> list[TrialRecord]:
        try:
            while True:
                self._collect()
                trials = self.store.trials()
                if self._watch(trials):
                    trials = self.store.trials()
                decision = study_decision(self.spec, trials)
                if self.on_update is not None:
                    self.on_update(decision, trials)
                if decision.complete and not self.flights:
                    return trials
                if decision.stop_reason is not None and self.flights:
                    policy = self.spec.completion_policy.running_trials
                    if policy == RunningTrialsPolicy.DELETE:
                        self._stop_all(f"stopped: the study completed ({decision.stop_reason})")
                        continue
                if decision.start:
                    self._start(decision.start)
                    continue
                time.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            self._stop_all(INTERRUPTED)
            raise
        finally:
            self.store.close()

    # -- starting ------------------------------------------------------------------------
    def _start(self, count: int) -> None:
        began = time.perf_counter()
        outputs = self.engine.suggest_batch(count) if count > 1 else [self.engine.suggest()]
        if self.on_suggest is not None:
            self.on_suggest((time.perf_counter() - began) / max(count, 1))
        for output in outputs:
            if self.on_gp_fit is not None and "gp_fit_seconds" in output.log:
                self.on_gp_fit(float(output.log["gp_fit_seconds"]))
            suggestion = dict(output.suggestion)
            suggestion_id = str(suggestion.pop(SUGGESTION_ID_DICT_KEY))
            predicted = output.log.get("cost_estimate")
            record = TrialRecord(
                index=self.store.next_index(),
                params=suggestion,
                phase=TrialPhase.PENDING,
                suggestion_id=suggestion_id,
                suggestion_kind=SuggestionKind(output.log.get("suggestion_kind", "bayesian")),
                created_at=time.time(),
                predicted_cost=_positive(predicted),
            )
            self.store.insert(record)
            self._launch(record)

    def _launch(self, record: TrialRecord) -> None:
        directory = self.trials_dir / f"trial-{record.index}"
        directory.mkdir(parents=True, exist_ok=True)
        for stale in (files.STARTED_FILE, files.COMMAND_FILE, files.EXIT_FILE,
                      files.RESULT_FILE):
            (directory / stale).unlink(missing_ok=True)
        name = trial_name(self.name, record.index)
        try:
            command = local_command(render_command(self.spec, record.params))
        except TemplateError as error:
            self._finish(record, TrialPhase.FAILED, reason=str(error))
            return
        env = dict(os.environ)
        env.update(render_env(self.spec, self.name, name, record.params))
        if self.trial_env is not None:
            env.update(self.trial_env(record))
        env[ENV_RESULT_FILE] = str((directory / files.RESULT_FILE).resolve())
        fd = os.open(directory / files.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            files.write_json_atomically(directory / files.LAUNCH_FILE, {
                "command": command,
                "cwd": str(self.manifest_dir),
                "env": env,
                "timeout_seconds": self.spec.trial_template.spec.active_deadline_seconds,
                "grace_seconds": self.grace_seconds,
                "lock_fd": fd,
            })
            process = subprocess.Popen(  # noqa: S603 - our own module, no shell
                [sys.executable, "-m", "carbs_operator.local.launcher", str(directory)],
                pass_fds=(fd,), stdin=subprocess.DEVNULL, start_new_session=True,
            )
        finally:
            os.close(fd)
        started = time.time()
        self.store.mark_running(record.index, started)
        running = replace(record, phase=TrialPhase.RUNNING, started_at=started)
        self.flights[record.index] = _Flight(running, directory, process)

    # -- finishing -----------------------------------------------------------------------
    def _collect(self) -> None:
        for index, flight in list(self.flights.items()):
            if flight.process is not None:
                done = flight.process.poll() is not None
            else:
                done = not lock_is_held(flight.directory)
            if done:
                del self.flights[index]
                if flight.kill_at is not None:
                    self.store.stop_done(index)  # already recorded EarlyStopped
                else:
                    self._read_progress(flight, time.time(), final=True)
                    self._conclude(flight.record, flight.directory)

    def _conclude(self, record: TrialRecord, directory: Path) -> None:
        exit_text = read_text(directory / files.EXIT_FILE)
        result = read_text(directory / files.RESULT_FILE)
        info: dict[str, Any] = json.loads(exit_text) if exit_text else {}
        if info.get("interrupted"):
            self._finish(record, TrialPhase.LOST, reason=self._stop_reason or INTERRUPTED)
            return
        failure: str | None = None
        if not info:
            if result is None:
                reason = "lost: its launcher was killed before the trial reported a result"
                self._finish(record, TrialPhase.LOST, reason=reason)
                return
        elif info.get("error"):
            failure = str(info["error"])
        elif info.get("timed_out"):
            timeout = self.spec.trial_template.spec.active_deadline_seconds
            failure = f"timed out after {timeout} s (activeDeadlineSeconds)"
        elif info.get("returncode") != 0:
            failure = f"exited with code {info.get('returncode')}{last_output_line(directory)}"
        runtime = float(info.get("runtime_seconds", 0.0))
        output, unreadable = output_text(directory) if uses_output(self.spec) else (None, None)
        collected = collect(self.spec, result, output, unreadable)
        if failure is None:
            failure = collected.failure
        outcome = conclude_trial(
            self.spec, workload_failure=failure, result_text=collected.result_text,
            runtime_seconds=runtime,
            gpus=requested_gpus(self.spec),
        )
        self._finish(
            record, outcome.phase, reason=outcome.failure_reason, metrics=outcome.metrics,
            objective=outcome.objective, cost=outcome.cost,
            started_at=info.get("started_at"), finished_at=info.get("finished_at"),
        )

    def _finish(
        self, record: TrialRecord, phase: TrialPhase, *, reason: str | None = None,
        metrics: dict[str, float] | Any = None, objective: float | None = None,
        cost: float | None = None, started_at: float | None = None,
        finished_at: float | None = None,
    ) -> None:
        finished_at = finished_at or time.time()
        self.store.finish(
            record.index, phase, metrics=metrics, objective=objective, cost=cost,
            failure_reason=reason, started_at=started_at, finished_at=finished_at,
        )
        final = replace(
            record, phase=phase, metrics=dict(metrics or {}), objective=objective, cost=cost,
            failure_reason=reason, finished_at=finished_at,
        )
        observe_trial(self.engine, final)
        if self.on_finished is not None:
            self.on_finished(final)

    def _stop_all(self, reason: str) -> None:
        """Interrupt every trial in flight and record it Lost with `reason`."""
        self._stop_reason = reason
        for flight in self.flights.values():
            pid = flight.process.pid if flight.process is not None else self._launcher_pid(flight)
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds + watch.KILL_MARGIN_SECONDS
        while self.flights and time.monotonic() < deadline:
            self._collect()
            time.sleep(0.05)
        self._stop_reason = None

    def _launcher_pid(self, flight: _Flight) -> int | None:
        if flight.process is not None:
            return flight.process.pid
        return watch.launcher_pid(flight.directory)

    # -- recovery ------------------------------------------------------------------------
    def _recover(self, trials: list[TrialRecord]) -> None:
        """Settle every trial the state shows in flight (see the module docstring). The
        engine already holds them as pending suggestions; concluding one observes it."""
        pending_stops = set(self.store.pending_stops())
        for record in trials:
            directory = self.trials_dir / f"trial-{record.index}"
            if record.index in pending_stops:
                self._resume_stop(record, directory)
                continue
            if not record.in_flight:
                continue
            offset, last_progress_at = self.store.progress_state(record.index)
            flight = _Flight(record, directory, None, watch.ReadState(offset, last_progress_at))
            if lock_is_held(directory):
                self.flights[record.index] = flight
            elif (directory / files.STARTED_FILE).exists():
                self._read_progress(flight, time.time(), final=True)
                self._conclude(flight.record, directory)
            else:
                self._launch(record)

    def _resume_stop(self, record: TrialRecord, directory: Path) -> None:
        """An early stop decided before a restart: end what is left of the trial (never
        decide again, never run it again)."""
        if not lock_is_held(directory):
            self.store.stop_done(record.index)
            return
        flight = _Flight(record, directory, None)
        decided = record.finished_at if record.finished_at is not None else time.time()
        left = max(0.0, decided + self.grace_seconds - time.time())
        flight.kill_at = time.monotonic() + left + watch.KILL_MARGIN_SECONDS
        self.flights[record.index] = flight
        watch.terminate(directory, watch.launcher_pid(directory))

    # -- progress and early stopping -----------------------------------------------------
    def _watch(self, trials: list[TrialRecord]) -> bool:
        """Read each running trial's new progress, and stop the ones the rule stops; also
        push stops in progress past their grace period. True when a row changed."""
        changed = False
        now = time.time()
        finished = sum(t.phase.is_finished for t in trials)
        for flight in list(self.flights.values()):
            if flight.kill_at is not None:
                if time.monotonic() > flight.kill_at:
                    watch.kill(flight.directory, self._launcher_pid(flight))
                continue
            changed |= self._read_progress(flight, now)
            if (self.spec.early_stopping is None or not flight.record.curve
                    or watch.has_ended(flight.directory)):
                continue
            seen = (flight.record.curve[-1], len(flight.record.curve), finished)
            if seen == flight.judged:
                continue
            flight.judged = seen
            stop = stop_decision(self.spec, flight.record, flight.record.curve, trials)
            if stop is not None:
                changed |= self._stop_early(flight, stop, now)
        return changed

    def _read_progress(self, flight: _Flight, now: float, *, final: bool = False) -> bool:
        """Take the trial's new progress lines into its curve; True when its row changed."""
        record = flight.record
        curve, warning = watch.read_progress(
            self.spec, record, flight.directory / files.LOG_FILE, flight.read, now,
            gpus=self.gpus, silent_after=self.silent_after, final=final)
        if curve == tuple(record.curve) and warning == record.progress_warning:
            return False
        flight.record = replace(record, curve=curve, progress_warning=warning)
        self.store.record_progress(record.index, curve, flight.read.offset,
                                   flight.read.last_progress_at, warning)
        return True

    def _stop_early(self, flight: _Flight, stop: StopDecision, now: float) -> bool:
        """Record the stop, then signal: a crash in between leaves a row that the next
        runner finishes stopping, never a trial stopped without a record."""
        record = flight.record
        started = record.started_at if record.started_at is not None else now
        cost = stopped_cost(self.spec, stop, record.curve,
                            measured_cost(self.spec, now - started, self.gpus))
        if not self.store.stop_early(record.index, stop, objective=stop.objective, cost=cost,
                                     curve=record.curve, decided_at=now):
            return False
        final = replace(record, phase=TrialPhase.EARLY_STOPPED, objective=stop.objective,
                        cost=cost, early_stop=stop, finished_at=now)
        flight.record = final
        flight.kill_at = time.monotonic() + self.grace_seconds + watch.KILL_MARGIN_SECONDS
        watch.terminate(flight.directory, self._launcher_pid(flight))
        observe_trial(self.engine, final)
        if self.on_finished is not None:
            self.on_finished(final)
        return True
