"""The study's tables in a terminal: the frontier, the stopped trials and the laws.

Built from the one study view (study_view.StudyView), so they say what the status and the
UI say. A table too wide for the terminal (an 80-column CI log, a narrow pane) is printed
one record per block instead of cutting its numbers to `5.216…`: a cut number is a wrong
number.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from carbs_operator.formatting import (
    cost_label,
    fmt_number,
    interval_text,
    law_reading,
    param_text,
    r2_text,
)
from carbs_operator.frontier import thin_frontier
from carbs_operator.models import TrialPhase
from carbs_operator.study import direction_sign
from carbs_operator.study_view import StudyView

_UNBOUNDED = 100_000


@dataclass
class Sheet:
    """Rows under headers, printable as a table or, when too wide, as records."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    bold: set[int] = field(default_factory=set)
    caption: str | None = None
    # Columns of prose, which may wrap at spaces; every other cell is printed whole.
    prose: set[str] = field(default_factory=set)
    right: set[str] = field(default_factory=set)

    def table(self) -> Table:
        # No vertical rules: a frontier of eight columns then fits 80 columns whole.
        table = Table(title=self.title, title_justify="left", caption=self.caption,
                      box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
        for header in self.headers:
            table.add_column(header, justify="right" if header in self.right else "left",
                             no_wrap=header not in self.prose,
                             overflow="fold")
        for number, row in enumerate(self.rows):
            table.add_row(*row, style="bold" if number in self.bold else None)
        return table

    def records(self) -> Table:
        """One block per row: `header  value` lines, values folded, never cut."""
        grid = Table(title=self.title, title_justify="left", caption=self.caption,
                     show_header=False, show_lines=True)
        grid.add_column("record", overflow="fold")
        width = max((len(h) for h in self.headers), default=0)
        for number, row in enumerate(self.rows):
            lines = [f"{h.ljust(width)}  {v}" for h, v in zip(self.headers, row, strict=True)
                     if v]
            grid.add_row("\n".join(lines), style="bold" if number in self.bold else None)
        return grid


def print_sheet(console: Console, sheet: Sheet) -> None:
    """The sheet as a table where it fits the console, else as records."""
    table = sheet.table()
    unbounded = console.options.update_width(_UNBOUNDED)  # Measurement clamps to the width
    natural = Measurement.get(console, unbounded, table).maximum
    prose_room = 24 * len(sheet.prose)  # prose wraps: it needs a column, not its length
    fixed = Measurement.get(console, unbounded, _without(sheet, sheet.prose)).maximum
    if natural <= console.width or (sheet.prose and fixed + prose_room <= console.width):
        console.print(table)
    else:
        console.print(sheet.records())


def _without(sheet: Sheet, columns: set[str]) -> Table:
    keep = [i for i, h in enumerate(sheet.headers) if h not in columns]
    return Sheet(sheet.title, [sheet.headers[i] for i in keep],
                 [[row[i] for i in keep] for row in sheet.rows]).table()


def frontier_sheet(view: StudyView) -> Sheet:
    """The frontier as rows a person reads top to bottom: more cost, better objective."""
    spec = view.spec
    frontier = thin_frontier(view.frontier)
    sign = direction_sign(spec)
    best = max(frontier, key=lambda t: sign * float(t.objective or 0.0), default=None)
    headers = ["trial", cost_label(spec), spec.objective.metric,
               *(p.name for p in spec.parameters)]
    sheet = Sheet(f"Pareto frontier: {spec.objective.metric} ({spec.objective.direction}) "
                  f"against {cost_label(spec)}", headers, right=set(headers))
    for point in frontier:
        marked = best is not None and point.index == best.index
        if marked:
            sheet.bold.add(len(sheet.rows))
        sheet.rows.append([
            f"★ {point.index}" if marked else str(point.index),
            fmt_number(point.cost), fmt_number(point.objective),
            *(param_text(spec, p.name, point.params.get(p.name)) for p in spec.parameters),
        ])
    done = sum(1 for t in view.trials if t.phase == TrialPhase.SUCCEEDED)
    if not frontier:
        sheet.caption = "no successful trials yet"
    else:
        shown = (f"{len(frontier)} of the {len(view.frontier)} frontier points"
                 if len(frontier) < len(view.frontier) else f"{len(frontier)} frontier points")
        sheet.caption = f"{shown} of {done} successes (★ best); repeats show their mean"
    return sheet


def laws_sheet(view: StudyView) -> Sheet:
    """Each law with its interval and verdict beside it, so noise is not read as a law
    (where it came from, `fit`, and its points are in `--json` and the UI)."""
    headers = ["parameter", "exponent", "80% interval", "R²", "verdict", "reading"]
    sheet = Sheet("Scaling laws", headers, prose={"reading"},
                  right={"exponent", "80% interval", "R²"})
    for law in view.laws:
        sheet.rows.append([
            law.parameter, "—" if law.exponent is None else f"{law.exponent:+.3g}",
            interval_text(law), r2_text(law.r2), law.verdict, law_reading(law),
        ])
    if not view.laws:
        sheet.caption = "no parameters"
    return sheet


def stopped_sheet(view: StudyView) -> Sheet | None:
    """Trials spec.earlyStopping stopped, apart from the frontier: their objective was
    measured before their end, at a part of their cost, so it is no result to rank."""
    spec = view.spec
    stopped = [t for t in view.trials if t.phase == TrialPhase.EARLY_STOPPED]
    if not stopped:
        return None
    headers = ["trial", "step", cost_label(spec), spec.objective.metric, "reason"]
    sheet = Sheet(f"Stopped early ({len(stopped)}): {spec.objective.metric} and "
                  f"{cost_label(spec)} when stopped, not results", headers,
                  prose={"reason"}, right=set(headers[:-1]))
    for trial in stopped:
        stop = trial.early_stop
        sheet.rows.append([str(trial.index), "—" if stop is None else str(stop.step),
                           fmt_number(trial.cost), fmt_number(trial.objective),
                           stop.reason if stop is not None else ""])
    return sheet


def render_report(view: StudyView, console: Console) -> None:
    """The end-of-study report: where the frontier is, and how parameters move along it."""
    print_sheet(console, frontier_sheet(view))
    stopped = stopped_sheet(view)
    if stopped is not None:
        print_sheet(console, stopped)
    print_sheet(console, laws_sheet(view))
