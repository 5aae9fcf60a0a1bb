"""Frontier table, scaling report and plot: what `carbs run`, `carbs frontier` and
`carbs plot` show a person."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from carbs_operator.formatting import law_reading
from carbs_operator.frontier import pareto_frontier
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.reports.plots import plot_study, study_figure
from carbs_operator.reports.tables import Sheet, frontier_sheet, laws_sheet, render_report
from carbs_operator.study import TrialRecord
from carbs_operator.study_view import StudyView, build_view
from carbs_operator.validation import load_study
from carbs_optimizer import ScalingLaw

EXAMPLE = Path(__file__).parents[2] / "examples" / "digits-mlp" / "study.yaml"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def spec() -> StudySpec:
    return load_study(EXAMPLE).spec


def _trial(
    index: int, phase: TrialPhase, objective: float | None = None, cost: float | None = None,
    reason: str | None = None, epochs: int = 10,
) -> TrialRecord:
    return TrialRecord(
        index=index,
        params={"lr": 3e-3 * (1 + index % 3), "width": 64.0, "epochs": float(epochs),
                "weight_decay": 1e-4, "activation": ("relu", "gelu")[index % 2]},
        phase=phase, objective=objective, cost=cost, failure_reason=reason,
        created_at=1000.0 + index, started_at=1001.0 + index, finished_at=1010.0 + index,
    )


def _study() -> list[TrialRecord]:
    ok = TrialPhase.SUCCEEDED
    return [
        _trial(0, ok, 0.50, 1e9, epochs=1),
        _trial(1, ok, 0.30, 1e10, epochs=10),
        _trial(2, ok, 0.40, 3e10, epochs=30),     # dearer and worse: off the frontier
        _trial(3, ok, 0.20, 1e11, epochs=100),
        _trial(4, TrialPhase.FAILED, cost=5e9, reason="exit code 1"),
        _trial(5, TrialPhase.FAILED, reason="no result"),  # no cost: not plotted
        _trial(6, TrialPhase.RUNNING),
    ]


def _console() -> Console:
    return Console(width=200, record=True, file=io.StringIO())


def _view(spec: StudySpec, trials: list[TrialRecord],
          laws: list[ScalingLaw] | None = None) -> StudyView:
    return build_view(spec, trials, name="digits-mlp", laws=laws)


def _column(sheet: Sheet, number: int) -> list[str]:
    return [row[number] for row in sheet.rows]


def _text(renderable: object) -> str:
    console = _console()
    console.print(renderable)
    return console.export_text()


def test_frontier_table_rows_by_cost_and_best_marked(spec: StudySpec) -> None:
    table = frontier_sheet(_view(spec, _study()))
    headers = table.headers
    assert headers[:3] == ["trial", "flops", "val_loss"]
    assert headers[3:7] == ["lr", "width", "epochs", "weight_decay"]
    assert _column(table, 0) == ["0", "1", "★ 3"]  # the best is starred
    assert _column(table, 1) == ["1e+09", "1e+10", "1e+11"]
    assert _column(table, 5) == ["1", "10", "100"]  # integer params print as ints


def test_frontier_table_without_successes(spec: StudySpec) -> None:
    table = frontier_sheet(_view(spec, [_trial(0, TrialPhase.FAILED, reason="boom")]))
    assert table.rows == []
    assert "no successful trials yet" in str(table.caption)


def test_frontier_table_maximize_marks_highest(spec: StudySpec) -> None:
    flipped = spec.model_copy(update={
        "objective": spec.objective.model_copy(update={"direction": "maximize"})})
    ok = TrialPhase.SUCCEEDED
    trials = [_trial(0, ok, 0.1, 1e9), _trial(1, ok, 0.9, 1e10)]
    table = frontier_sheet(_view(flipped, trials))
    assert _column(table, 0) == ["0", "★ 1"]


def test_scaling_readings(spec: StudySpec) -> None:
    """Each law reads with its interval and verdict; a negative R² is never a reading."""
    laws = [
        ScalingLaw("lr", "log", -0.2134, -1.0, 0.91, 6, exponent_interval=(-0.25, -0.18),
                   verdict="law"),
        ScalingLaw("x", "linear", 0.3, 1.0, -4.2, 4, exponent_interval=(-0.4, 0.9),
                   verdict="no law", held_value=1.5),
        ScalingLaw("dropout", "logit", -0.05, 0.0, 0.2, 4, exponent_interval=(-0.1, 0.0),
                   verdict="saturated", saturation_cost=5e8),
        ScalingLaw("width", "log", None, None, None, 1),
    ]
    assert law_reading(laws[0]) == "lr ∝ cost^-0.21 (80%: -0.25 to -0.18)"
    assert law_reading(laws[1]).startswith("no law: x does not move with cost")
    assert "keep it near 1.5" in law_reading(laws[1])
    assert "saturated" in law_reading(laws[2])
    assert "no law below it either" in law_reading(laws[2])  # its interval holds 0
    assert "5e+08" in law_reading(laws[2])
    assert law_reading(laws[3]) == "too few frontier points (1) to fit a law"
    table = laws_sheet(_view(spec, _study(), laws))
    assert _column(table, 0) == ["lr", "x", "dropout", "width"]
    assert _column(table, 2) == ["-0.25 to -0.18", "-0.40 to +0.90", "-0.10 to +0.00", "—"]
    assert _column(table, 3) == ["0.91", "poor", "0.20", "—"]
    assert _column(table, 4) == ["law", "no law", "saturated", "too few trials"]
    text = _text(table.table())
    assert "lr ∝ cost^-0.21" in text
    assert "-4.2" not in text


def test_tables_fit_80_columns_without_cutting_numbers(spec: StudySpec) -> None:
    """In an 80-column terminal every number is printed whole: the table turns into one
    record per block rather than cutting `5.216e+09` to `5.216…`."""
    trials = [_trial(i, TrialPhase.SUCCEEDED, 1.0 / (i + 1) + 0.1234567, 5.216789e9 * (i + 1))
              for i in range(6)]
    view = _view(spec, trials)
    out = io.StringIO()
    console = Console(file=out, width=80)
    render_report(view, console)
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    for point in view.frontier:
        assert f"{point.cost:.4g}" in text


def test_render_report_prints_both_tables(spec: StudySpec) -> None:
    console = _console()
    law = ScalingLaw("lr", "log", -0.25, -2.0, 0.8, 3, exponent_interval=(-0.3, -0.2),
                     verdict="law")
    render_report(_view(spec, _study(), [law]), console)
    text = console.export_text()
    assert "Pareto frontier" in text
    assert "★ " in text
    assert "Scaling laws" in text
    assert "lr ∝ cost^-0.25" in text


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000


def test_plot_study_writes_png(spec: StudySpec, tmp_path: Path) -> None:
    path = tmp_path / "study.png"
    plot_study(spec, _study(), path, study="digits-mlp")
    _check_png(path)


def test_plot_study_without_successes_and_twice(spec: StudySpec, tmp_path: Path) -> None:
    """An empty study still plots, and repeated plots leave no pyplot figures behind."""
    for name in ("a.png", "b.png"):
        plot_study(spec, [_trial(0, TrialPhase.FAILED, cost=1e9, reason="x")], tmp_path / name)
        _check_png(tmp_path / name)
    plot_study(spec, [], str(tmp_path / "empty.png"))
    _check_png(tmp_path / "empty.png")
    if "matplotlib.pyplot" in sys.modules:
        assert not sys.modules["matplotlib.pyplot"].get_fignums()


def test_plot_frontier_uses_every_point(spec: StudySpec, tmp_path: Path) -> None:
    """The plot is not thinned like the status: a 60-point frontier is drawn whole."""
    ok = TrialPhase.SUCCEEDED
    trials = [_trial(i, ok, 1.0 / (i + 1), 1e6 * (i + 1), epochs=1 + i) for i in range(60)]
    assert len(pareto_frontier(spec, trials)) == 50
    figure = study_figure(spec, trials, study="long")
    (step,) = figure.axes[0].get_lines()
    assert np.asarray(step.get_xdata()).size == 60
    assert figure.axes[0].get_xscale() == "log"
    assert figure.axes[0].get_title().startswith("long: 60 trials (60 succeeded")


def test_plot_labels_and_failure_marks(spec: StudySpec) -> None:
    figure = study_figure(spec, _study(), study="digits-mlp")
    axes = figure.axes[0]
    assert axes.get_xlabel() == "flops (log scale)"
    assert axes.get_ylabel() == "val_loss (minimize)"
    assert axes.get_title() == (
        "digits-mlp: 7 trials (4 succeeded, 2 failed, 1 in flight)")
    legend = axes.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    # Only the failure with a measured cost is drawn.
    assert labels == ["succeeded (4)", "Pareto frontier (3)", "failed (1)"]


def test_choices_show_as_strings_and_as_bands(spec: StudySpec, tmp_path: Path) -> None:
    """A categorical parameter: its strings in the table and on the plot, and a band per
    cost range in the scaling report instead of an exponent."""
    trials = _study()
    out = io.StringIO()
    Console(file=out, width=200).print(frontier_sheet(_view(spec, trials)).table())
    table = out.getvalue()
    assert "activation" in table
    assert "gelu" in table  # trials 1 and 3, on the frontier
    assert "relu" in table  # trial 0
    from carbs_operator.replay import scaling_laws

    laws = {law.parameter: law for law in scaling_laws(spec, trials)}
    law = laws["activation"]
    assert law.exponent is None
    assert [(b.value, b.points) for b in law.bands or ()] == [("relu", 1), ("gelu", 2)]
    assert law_reading(law) == "relu up to 1e+09, gelu from 1e+10"
    path = tmp_path / "study.png"
    plot_study(spec, trials, path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    labels = [t.get_text() for t in study_figure(spec, trials).axes[0].texts]
    assert {"relu", "gelu"} <= set(labels)
