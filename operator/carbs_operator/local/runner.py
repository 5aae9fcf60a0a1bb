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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from carbs_operator.collectors import collect, output_too_long, uses_output
from carbs_operator.local import launcher as files
from carbs_operator.local.store import TrialStore
from carbs_operator.models import (
    CarbsStudy,
    RunningTrialsPolicy,
    SuggestionKind,
    TrialPhase,
)
from carbs_operator.replay import build_engine, observe_trial
from carbs_operator.status import trial_name
from carbs_operator.study import (
    Decision,
    TrialRecord,
    conclude_trial,
    decide,
)
from carbs_operator.template import (
    ENV_RESULT_FILE,
    TemplateError,
    render_command,
    render_env,
    requested_gpus,
)
from carbs_optimizer import SUGGESTION_ID_DICT_KEY

INTERRUPTED = "interrupted: carbs run was stopped while the trial ran"


@dataclass
class _Flight:
    """A trial in flight: our own launcher process, or an adopted one (process None)."""

    record: TrialRecord
    directory: Path
    process: subprocess.Popen[bytes] | None


def local_command(command: list[str]) -> list[str]:
    """`python`/`python3` mean the interpreter running `carbs run`: in the image they name the
    image's Python; here, the environment that has the training dependencies installed."""
    if command and command[0] in ("python", "python3"):
        return [sys.executable, *command[1:]]
    return command


def lock_is_held(directory: Path) -> bool:
    """True while a launcher (or the command it runs) holds the trial's lock."""
    path = directory / files.LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _read(path: Path) -> str | None:
    # The trial writes its result file and output log: bytes that are not UTF-8 must fail
    # that trial (as a malformed result), not raise here and stop every `carbs run`.
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _output(directory: Path) -> tuple[str | None, str | None]:
    """The trial's output.log for a StdOut collector, read only when its size is bounded:
    (text, None), or (None, why it cannot be read)."""
    path = directory / files.LOG_FILE
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, "no output: the trial's output.log is missing"
    too_long = output_too_long(size)
    return (None, too_long) if too_long else (_read(path), None)


def _last_output_line(directory: Path) -> str:
    text = _read(directory / files.LOG_FILE) or ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f": {lines[-1][:300]}" if lines else ""


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
        on_update: Callable[[Decision, list[TrialRecord]], None] | None = None,
        on_finished: Callable[[TrialRecord], None] | None = None,
        on_suggest: Callable[[float], None] | None = None,
        on_gp_fit: Callable[[float], None] | None = None,
        seed_trials: Sequence[TrialRecord] = (),
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
        self.on_update = on_update
        self.on_finished = on_finished
        self.on_suggest = on_suggest
        self.on_gp_fit = on_gp_fit
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
                decision = decide(self.spec, trials)
                if self.on_update is not None:
                    self.on_update(decision, trials)
                if decision.complete:
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
            record = TrialRecord(
                index=self.store.next_index(),
                params=suggestion,
                phase=TrialPhase.PENDING,
                suggestion_id=suggestion_id,
                suggestion_kind=SuggestionKind(output.log.get("suggestion_kind", "bayesian")),
                created_at=time.time(),
            )
            self.store.insert(record)
            self._launch(record)

    def _launch(self, record: TrialRecord) -> None:
        directory = self.trials_dir / f"trial-{record.index}"
        directory.mkdir(parents=True, exist_ok=True)
        for stale in (files.STARTED_FILE, files.EXIT_FILE, files.RESULT_FILE):
            (directory / stale).unlink(missing_ok=True)
        name = trial_name(self.name, record.index)
        try:
            command = local_command(render_command(self.spec, record.params))
        except TemplateError as error:
            self._finish(record, TrialPhase.FAILED, reason=str(error))
            return
        env = dict(os.environ)
        env.update(render_env(self.spec, self.name, name, record.params))
        env[ENV_RESULT_FILE] = str((directory / files.RESULT_FILE).resolve())
        fd = os.open(directory / files.LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            files.write_json_atomically(directory / files.LAUNCH_FILE, {
                "command": command,
                "cwd": str(self.manifest_dir),
                "env": env,
                "timeout_seconds": self.spec.trial_template.spec.active_deadline_seconds,
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
                self._conclude(flight.record, flight.directory)

    def _conclude(self, record: TrialRecord, directory: Path) -> None:
        exit_text = _read(directory / files.EXIT_FILE)
        result = _read(directory / files.RESULT_FILE)
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
            failure = f"exited with code {info.get('returncode')}{_last_output_line(directory)}"
        runtime = float(info.get("runtime_seconds", 0.0))
        output, unreadable = _output(directory) if uses_output(self.spec) else (None, None)
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
        deadline = time.monotonic() + files.GRACE_SECONDS + 5
        while self.flights and time.monotonic() < deadline:
            self._collect()
            time.sleep(0.05)
        self._stop_reason = None

    def _launcher_pid(self, flight: _Flight) -> int | None:
        started = _read(flight.directory / files.STARTED_FILE)
        return int(json.loads(started)["pid"]) if started else None

    # -- recovery ------------------------------------------------------------------------
    def _recover(self, trials: list[TrialRecord]) -> None:
        """Settle every trial the state shows in flight (see the module docstring). The
        engine already holds them as pending suggestions; concluding one observes it."""
        for record in trials:
            if not record.in_flight:
                continue
            directory = self.trials_dir / f"trial-{record.index}"
            if lock_is_held(directory):
                self.flights[record.index] = _Flight(record, directory, None)
            elif (directory / files.STARTED_FILE).exists():
                self._conclude(record, directory)
            else:
                self._launch(record)
