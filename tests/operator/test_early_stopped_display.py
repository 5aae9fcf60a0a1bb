"""How early-stopped trials show: `carbs run`'s lines and panel, `carbs frontier`'s
tables and `carbs plot --curves`."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.local.display import RunDisplay
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.reports.plots import plot_study, study_figure
from carbs_operator.reports.tables import render_report, stopped_sheet
from carbs_operator.study import TrialRecord, study_decision
from carbs_operator.study_view import build_view
from tests.support.builders import example_spec, trial_record

P = TrialPhase
REASON = "val_loss 0.9 is worse than the frontier's 0.5 at this cost"


@pytest.fixture
def spec() -> StudySpec:
    return example_spec(max_trials=10, max_failed_trials=0)


def curve(final: float, steps: int, cost_per_step: float | None = 1e8) -> tuple[CurvePoint, ...]:
    return tuple(CurvePoint(s, final + 1.0 / (s + 1),
                            None if cost_per_step is None else cost_per_step * (s + 1))
                 for s in range(steps))


def trials(cost_per_step: float | None = 1e8) -> list[TrialRecord]:
    params = {"lr": 1e-3, "width": 64.0, "epochs": 10.0, "weight_decay": 1e-4,
              "activation": "relu"}
    done = curve(0.3, 10, cost_per_step)
    cut = curve(0.9, 3, cost_per_step)
    stop = StopDecision(REASON, 2, cut[-1].objective, cut[-1].cost)
    return [
        trial_record(0, P.SUCCEEDED, params=params, objective=done[-1].objective,
                     cost=1e9, curve=done, started_at=100.0, finished_at=110.0),
        trial_record(1, P.EARLY_STOPPED, params=params, objective=stop.objective,
                     cost=stop.cost if stop.cost is not None else 3e8, curve=cut,
                     early_stop=stop, started_at=101.0, finished_at=104.0),
        trial_record(2, P.RUNNING, params=params, curve=curve(0.4, 4, cost_per_step),
                     started_at=105.0),
    ]


def test_plain_lines_say_where_and_why_a_trial_was_stopped(spec: StudySpec) -> None:
    out = io.StringIO()
    progress = RunDisplay("digits", Console(file=out, width=300))
    with progress:
        progress.update(spec, [], study_decision(spec, []))
        records = trials()
        progress.update(spec, records, study_decision(spec, records))
    text = out.getvalue()
    assert "digits [1/10] trial 1 stopped early at step 2: val_loss=1.233 flops=3e+08 after " \
           f"3.0s; {REASON}" in text


def test_the_live_panel_counts_stopped_trials_and_shows_running_progress(
    spec: StudySpec,
) -> None:
    console = Console(file=io.StringIO(), width=200, record=True, force_terminal=True)
    with RunDisplay("digits", console, live=True, min_interval=0.0) as progress:
        records = trials()
        progress.update(spec, records, study_decision(spec, records))
    text = console.export_text()
    assert "1 stopped early" in text
    assert "stopped early" in text
    assert "trial 2 step 3: 0.65" in text


def test_frontier_report_lists_stopped_trials_apart(spec: StudySpec) -> None:
    console = Console(file=io.StringIO(), width=250, record=True)
    render_report(build_view(spec, trials(), name="digits", laws=[]), console)
    text = console.export_text()
    assert "Stopped early (1)" in text
    assert REASON in text
    frontier_part = text.split("Stopped early")[0]
    assert "1.233" not in frontier_part  # a stopped trial is never on the frontier
    kept = [t for t in trials() if t.phase != P.EARLY_STOPPED]
    assert stopped_sheet(build_view(spec, kept, name="digits", laws=[])) is None


def test_plot_curves_by_cost_and_by_step(spec: StudySpec, tmp_path: Path) -> None:
    figure = study_figure(spec, trials(), study="digits", curves=True)
    main, panel = figure.axes
    assert "1 stopped early" in main.get_title()
    assert any("stopped early" in t.get_text() for t in main.get_legend().get_texts())
    assert panel.get_xlabel() == "flops so far (log scale)"
    assert len(panel.get_lines()) == 3
    legend = sorted(t.get_text() for t in panel.get_legend().get_texts())
    assert legend == ["running (1)", "stopped early (1)", "succeeded (1)"]
    by_step = study_figure(spec, trials(cost_per_step=None), curves=True).axes[1]
    assert by_step.get_xlabel() == "step"
    path = tmp_path / "curves.png"
    plot_study(spec, trials(), path, curves=True)
    assert path.read_bytes()[:4] == b"\x89PNG"
    empty = study_figure(spec, [], curves=True).axes[1]
    assert "no trial reported progress" in empty.texts[0].get_text()
