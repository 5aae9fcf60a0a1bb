"""`carbs run`'s progress display: plain lines off a terminal, a throttled panel on one."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from rich.console import Console

from carbs_operator.local.display import RunDisplay
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord, study_decision
from tests.support.builders import example_spec, trial_record

OK, FAILED, LOST, RUNNING = (TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.LOST,
                             TrialPhase.RUNNING)


@pytest.fixture
def spec() -> StudySpec:
    """The example's spec with the budget these tests count against pinned."""
    return example_spec(max_trials=30, max_failed_trials=5)


def _trial(index: int, phase: TrialPhase, objective: float | None = None,
           cost: float | None = None, reason: str | None = None) -> TrialRecord:
    return trial_record(
        index, phase, objective=objective, cost=cost, failure_reason=reason,
        params={"lr": 1e-3, "width": 64.0, "epochs": 1.0 + index, "weight_decay": 1e-4},
        started_at=100.0 + index, finished_at=112.5 + index if phase.is_finished else None,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _update(progress: RunDisplay, spec: StudySpec, trials: list[TrialRecord]) -> None:
    progress.update(spec, trials, study_decision(spec, trials))


def test_plain_lines_one_per_finished_trial(spec: StudySpec) -> None:
    out = io.StringIO()
    console = Console(file=out, width=60)  # not a terminal
    states = [
        [_trial(0, RUNNING), _trial(1, RUNNING)],
        [_trial(0, OK, 0.4, 1e9), _trial(1, RUNNING)],
        [_trial(0, OK, 0.4, 1e9), _trial(1, RUNNING)],  # nothing new: no line
        [_trial(0, OK, 0.4, 1e9), _trial(1, FAILED, reason="exit code 1"),
         _trial(2, LOST, reason="pod deleted"), _trial(3, OK, 0.3, 2e9)],
    ]
    with RunDisplay("digits", console) as progress:
        assert not progress.is_live
        for trials in states:
            _update(progress, spec, trials)
    lines = out.getvalue().splitlines()
    assert lines == [
        "digits [1/30] trial 0 succeeded: val_loss=0.4 flops=1e+09 in 12.5s; "
        "best val_loss=0.4 (trial 0)",
        "digits [2/30] trial 1 failed: exit code 1",
        "digits [2/30] trial 2 lost: pod deleted (its point may be tried again)",
        "digits [3/30] trial 3 succeeded: val_loss=0.3 flops=2e+09 in 12.5s; "
        "best val_loss=0.3 (trial 3)",
    ]
    assert "\x1b" not in out.getvalue()


def test_plain_resume_and_completion(spec: StudySpec) -> None:
    out = io.StringIO()
    short = spec.model_copy(update={"budget": spec.budget.model_copy(update={"max_trials": 3})})
    earlier = [_trial(0, OK, 0.5, 1e9), _trial(1, OK, 0.4, 1e9)]
    with RunDisplay("digits", Console(file=out), live=False) as progress:
        _update(progress, short, earlier)
        _update(progress, short, [*earlier, _trial(2, OK, 0.2, 1e9)])
        _update(progress, short, [*earlier, _trial(2, OK, 0.2, 1e9)])  # announced once
    lines = out.getvalue().splitlines()
    assert lines[0] == "digits: resuming with 2 finished trials"
    assert lines[1].startswith("digits [3/3] trial 2 succeeded")
    assert lines[2] == ("digits: complete (MaxTrialsReached): 3 trials finished (maxTrials 3); "
                        "best val_loss=0.2 (trial 2)")
    assert len(lines) == 3


def test_plain_mode_even_with_forced_colour(spec: StudySpec, monkeypatch: Any) -> None:
    """CI often sets FORCE_COLOR; lines must still carry no escape codes."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    out = io.StringIO()
    with RunDisplay("s", Console(file=out, force_terminal=True), live=False) as progress:
        _update(progress, spec, [])
        _update(progress, spec, [_trial(0, FAILED, reason="[red]x[/red] *bold*")])
    assert out.getvalue() == "s [1/30] trial 0 failed: [red]x[/red] *bold*\n"


def test_live_panel_is_throttled_and_final_state_drawn(spec: StudySpec, monkeypatch: Any) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    clock = Clock()
    drawn: list[int] = []
    progress = RunDisplay("digits", console, clock=clock, min_interval=1.0)
    assert progress.is_live
    render = progress._render

    def counting(*args: Any) -> Any:
        drawn.append(len(args[1]))
        return render(*args)

    monkeypatch.setattr(progress, "_render", counting)
    running = [_trial(0, RUNNING)]
    with progress:
        for _ in range(100):  # a busy runner: one draw, not a hundred
            _update(progress, spec, running)
        assert len(drawn) == 1
        clock.now = 1.5
        _update(progress, spec, running)
        assert len(drawn) == 2
        _update(progress, spec, [_trial(0, OK, 0.25, 3e9)])  # a finished trial draws at once
        assert len(drawn) == 3
        _update(progress, spec, [_trial(0, OK, 0.25, 3e9), _trial(1, RUNNING)])  # throttled
        assert len(drawn) == 3
    assert drawn[-1] == 2  # on exit the latest state is drawn, throttled or not
    text = out.getvalue()
    assert "digits" in text
    assert "1/30 finished" in text
    assert "val_loss 0.25 (trial 0, flops 3e+09)" in text
    assert "last finished trials" in text


def test_live_shows_cost_budget_and_failures(spec: StudySpec) -> None:
    out = io.StringIO()
    budget = spec.budget.model_copy(update={"max_total_cost": 1e12})
    capped = spec.model_copy(update={"budget": budget})
    trials = [_trial(0, OK, 0.3, 2e9), replace(_trial(1, FAILED), failure_reason="OOMKilled")]
    with RunDisplay("s", Console(file=out, force_terminal=True, width=140)) as progress:
        _update(progress, capped, trials)
    text = out.getvalue()
    assert "2e+09 of 1e+12" in text
    assert "OOMKilled" in text
    assert "1 failed (max 5)" in text
