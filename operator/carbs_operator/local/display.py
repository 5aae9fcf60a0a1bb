"""What `carbs run` shows while a study runs.

On a terminal: a live panel (counts, best so far, cost spent, the last few finished
trials), redrawn at most every `min_interval` seconds whatever the runner's pace, since
the runner calls update() on every state change and must not wait on the terminal.
Elsewhere (CI logs, pipes, files): one plain line per finished trial and none of rich's
control codes, because a log is read later, top to bottom, by grep as often as by people.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from carbs_operator.formatting import cost_label, fmt_number
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import Decision, TrialRecord, best_trial

_OUTCOME = {
    TrialPhase.SUCCEEDED: "succeeded",
    TrialPhase.FAILED: "failed",
    TrialPhase.LOST: "lost",
    TrialPhase.EARLY_STOPPED: "stopped early",
}
_STYLE = {TrialPhase.SUCCEEDED: "green", TrialPhase.FAILED: "red", TrialPhase.LOST: "yellow",
          TrialPhase.EARLY_STOPPED: "magenta"}


def _finish_order(trial: TrialRecord) -> tuple[float, int]:
    return (trial.finished_at if trial.finished_at is not None else float("inf"), trial.index)


def _note(trial: TrialRecord) -> str:
    if trial.phase == TrialPhase.SUCCEEDED:
        return ""
    if trial.phase == TrialPhase.EARLY_STOPPED and trial.early_stop is not None:
        return f"step {trial.early_stop.step}: {trial.early_stop.reason}"
    return trial.failure_reason or ""


def _duration(trial: TrialRecord) -> str:
    if trial.started_at is None or trial.finished_at is None:
        return "—"
    return f"{max(0.0, trial.finished_at - trial.started_at):.1f}s"


class RunDisplay:
    """Live panel or plain lines; use as a context manager around the runner's loop and
    call update() on every pass (it is cheap when there is nothing new to show).

    `live=None` picks by the console: a live panel only on an interactive terminal.
    """

    def __init__(
        self,
        study: str,
        console: Console | None = None,
        *,
        live: bool | None = None,
        min_interval: float = 0.25,
        recent: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.study = study
        self.console = console if console is not None else Console()
        if live is None:
            live = self.console.is_terminal and not self.console.is_dumb_terminal
        self.is_live = live
        self.min_interval = min_interval
        self.recent = recent
        self._clock = clock
        self._started = clock()
        self._live: Live | None = None
        self._last_draw = float("-inf")
        self._latest: tuple[StudySpec, Sequence[TrialRecord], Decision] | None = None
        self._seen: set[int] | None = None  # finished trial indices already reported
        self._announced_end = False

    def __enter__(self) -> RunDisplay:
        if self.is_live:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._live is not None:
            if self._latest is not None:  # the last state, even if it came in throttled
                self._live.update(self._render(*self._latest), refresh=True)
            self._live.stop()
            self._live = None

    def update(self, spec: StudySpec, trials: Sequence[TrialRecord], decision: Decision) -> None:
        """Report the study's current state; cheap when called more often than it draws."""
        self._latest = (spec, trials, decision)
        new = self._newly_finished(trials)
        if self._live is None:
            self._log_lines(spec, trials, decision, new)
            return
        now = self._clock()
        if new or decision.complete or now - self._last_draw >= self.min_interval:
            self._last_draw = now
            self._live.update(self._render(spec, trials, decision), refresh=True)

    # ------------------------------------------------------------------------- plain lines

    def _newly_finished(self, trials: Sequence[TrialRecord]) -> list[TrialRecord]:
        finished = [t for t in trials if t.phase.is_finished]
        if self._seen is None:
            # The first call on a resumed study: earlier trials are summarised, not replayed.
            self._seen = {t.index for t in finished}
            if finished and self._live is None:
                self._print(f"{self.study}: resuming with {len(finished)} finished trials")
            return []
        new = sorted((t for t in finished if t.index not in self._seen), key=_finish_order)
        self._seen.update(t.index for t in new)
        return new

    def _log_lines(
        self,
        spec: StudySpec,
        trials: Sequence[TrialRecord],
        decision: Decision,
        new: list[TrialRecord],
    ) -> None:
        if not new and (self._announced_end or not decision.complete):
            return  # the common call: nothing to say, and no scan of the trials
        best = best_trial(spec, trials)
        done = decision.counts.finished - sum(t.phase != TrialPhase.LOST for t in new)
        for trial in new:
            if trial.phase != TrialPhase.LOST:
                done += 1
            self._print(f"{self.study} [{done}/{spec.budget.max_trials}] "
                        + self._trial_line(spec, trial, best))
        if decision.complete and not self._announced_end:
            self._announced_end = True
            reason = decision.stop_reason or "complete"
            self._print(f"{self.study}: complete ({reason}): {decision.message}; "
                        f"{self._best_text(spec, best)}")

    def _trial_line(self, spec: StudySpec, trial: TrialRecord, best: TrialRecord | None) -> str:
        outcome = _OUTCOME.get(trial.phase, str(trial.phase))
        head = f"trial {trial.index} {outcome}"
        if trial.phase == TrialPhase.SUCCEEDED:
            return (f"{head}: {spec.objective.metric}={fmt_number(trial.objective)} "
                    f"{cost_label(spec)}={fmt_number(trial.cost)} in {_duration(trial)}; "
                    + self._best_text(spec, best))
        if trial.phase == TrialPhase.EARLY_STOPPED:
            return f"{head} {self._stop_text(spec, trial)}"
        reason = trial.failure_reason or "no reason recorded"
        if trial.phase == TrialPhase.LOST:
            return f"{head}: {reason} (its point may be tried again)"
        return f"{head}: {reason}"

    @staticmethod
    def _stop_text(spec: StudySpec, trial: TrialRecord) -> str:
        """Where a stopped trial stood, and why it was stopped."""
        stop = trial.early_stop
        step = f"at step {stop.step}" if stop is not None else "at its last progress point"
        reason = stop.reason if stop is not None else "no reason recorded"
        return (f"{step}: {spec.objective.metric}={fmt_number(trial.objective)} "
                f"{cost_label(spec)}={fmt_number(trial.cost)} after {_duration(trial)}; "
                f"{reason}")

    @staticmethod
    def _best_text(spec: StudySpec, best: TrialRecord | None) -> str:
        if best is None:
            return "no successful trial yet"
        return f"best {spec.objective.metric}={fmt_number(best.objective)} (trial {best.index})"

    def _print(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)

    # --------------------------------------------------------------------------- live panel

    def _render(
        self, spec: StudySpec, trials: Sequence[TrialRecord], decision: Decision
    ) -> RenderableType:
        counts = decision.counts
        budget = spec.budget
        summary = Table.grid(padding=(0, 2))
        summary.add_column(style="bold")
        summary.add_column()
        summary.add_row(
            "trials",
            f"{counts.finished}/{budget.max_trials} finished · {counts.running} running · "
            f"{counts.pending} pending · {counts.failed} failed (max "
            f"{budget.max_failed_trials}) · {counts.lost} lost"
            + (f" · {counts.early_stopped} stopped early" if spec.early_stopping is not None
               or counts.early_stopped else ""),
        )
        best = best_trial(spec, trials)
        best_text = "—"
        if best is not None:
            best_text = (f"{spec.objective.metric} {fmt_number(best.objective)} "
                         f"(trial {best.index}, {cost_label(spec)} {fmt_number(best.cost)})")
        summary.add_row("best", best_text)
        spent = fmt_number(decision.total_cost)
        if budget.max_total_cost is not None:
            spent += f" of {fmt_number(budget.max_total_cost)}"
        summary.add_row(f"total {cost_label(spec)}", spent)
        summary.add_row("status", decision.message)

        finished = sorted((t for t in trials if t.phase.is_finished), key=_finish_order)
        recent = Table(title="last finished trials", title_justify="left", expand=False)
        for header in ("trial", "outcome", spec.objective.metric, cost_label(spec), "time"):
            recent.add_column(header, justify="right" if header != "outcome" else "left")
        recent.add_column("note", overflow="ellipsis", max_width=48, no_wrap=True)
        for trial in finished[-self.recent:]:
            recent.add_row(
                str(trial.index),
                _OUTCOME.get(trial.phase, str(trial.phase)),
                fmt_number(trial.objective),
                fmt_number(trial.cost),
                _duration(trial),
                _note(trial),
                style=_STYLE.get(trial.phase),
            )
        running = [t for t in trials if t.phase == TrialPhase.RUNNING and t.curve]
        if running:
            summary.add_row("progress", " · ".join(
                f"trial {t.index} step {t.curve[-1].step}: {fmt_number(t.curve[-1].objective)}"
                for t in running[:self.recent]))
        elapsed = self._clock() - self._started
        title = f"{self.study} · {elapsed:.0f}s"
        if decision.complete:
            title += f" · complete ({decision.stop_reason})"
        return Panel(Group(summary, recent), title=title, title_align="left", expand=False)
