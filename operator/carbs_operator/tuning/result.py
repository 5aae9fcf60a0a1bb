"""What tune() and load_study() return: one study's records, and the views of them that
`carbs frontier`, `carbs predict` and `carbs plot` show, computed by the same functions.

Nothing here computes a frontier, a law or a prediction of its own: the frontier and laws
come from carbs_operator.study_view (the one derived view every consumer reads), the
prediction from predict.predict_scale_up (what `carbs predict` runs), the figure from
frontier.study_figure (what `carbs plot` draws). Views are computed on first use and kept.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from carbs_operator.models import CarbsStudy, StudySpec
from carbs_operator.study import TrialRecord, best_trial, study_decision

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from carbs_operator.scaleup.predict import ScaleUpPrediction
    from carbs_optimizer import ScalingLaw


@dataclass(frozen=True)
class BestTrial:
    """The best successful trial: its index, parameters, objective, cost and all metrics."""

    index: int
    params: Mapping[str, float | str]
    objective: float
    cost: float
    metrics: Mapping[str, float]


class TuneResult:
    """A study's outcome: `frontier`, `trials`, `best`, `laws`, `predict(cost)`, `plot()`.

    `frontier` and `trials` are pandas DataFrames where pandas is installed, else lists of
    dicts (one per trial: index, phase, objective, cost, then each parameter).
    """

    def __init__(self, study: CarbsStudy, trials: Sequence[TrialRecord], *,
                 namespace: str = "local") -> None:
        self.study = study
        self.name = study.metadata.name or "study"
        self.namespace = namespace
        self.records: tuple[TrialRecord, ...] = tuple(sorted(trials, key=lambda t: t.index))

    @property
    def spec(self) -> StudySpec:
        return self.study.spec

    @cached_property
    def _derived(self) -> tuple[tuple[TrialRecord, ...], tuple[ScalingLaw, ...]]:
        """(frontier, laws) from the study's derived view, as `carbs ui` shows them."""
        from carbs_operator.study_view import build_view

        view = build_view(self.spec, self.records, name=self.name, namespace=self.namespace)
        return view.frontier, view.laws

    @property
    def message(self) -> str:
        """Where the study stands, in the words `carbs run` ends with."""
        return study_decision(self.spec, self.records).message

    @property
    def frontier(self) -> Any:
        """The Pareto frontier, cheapest first (every point, not thinned)."""
        return _table(self.spec, self._derived[0])

    @property
    def frontier_trials(self) -> tuple[TrialRecord, ...]:
        """The frontier's trial records, cheapest first."""
        return self._derived[0]

    @property
    def trials(self) -> Any:
        """Every trial, by index."""
        return _table(self.spec, self.records)

    @property
    def best(self) -> BestTrial | None:
        """The best successful trial (ties go to the cheaper), None before any succeeded."""
        found = best_trial(self.spec, self.records)
        if found is None or found.objective is None or found.cost is None:
            return None
        return BestTrial(found.index, dict(found.params), found.objective, found.cost,
                         dict(found.metrics))

    @property
    def laws(self) -> list[ScalingLaw]:
        """The engine's scaling laws along the frontier, one per parameter."""
        return list(self._derived[1])

    def predict(self, cost: float) -> ScaleUpPrediction:
        """The scale-up prediction at `cost`, as `carbs predict --cost` gives it
        (PredictionRefusedError while the frontier cannot support one)."""
        from carbs_operator.scaleup.predict import predict_scale_up

        return predict_scale_up(self.spec, self.records, cost)

    def plot(self, path: str | None = None, *, curves: bool = False) -> Figure:
        """The `carbs plot` figure (cost vs objective, frontier highlighted); saved as PNG to
        `path` when given. A notebook shows the returned figure."""
        from carbs_operator.reports.plots import study_figure

        figure = study_figure(self.spec, self.records, study=self.name, curves=curves)
        if path is not None:
            figure.savefig(path, format="png")
        return figure

    def to_manifest(self) -> dict[str, Any]:
        """The study's manifest, as YAML would hold it."""
        from carbs_operator.tuning.manifest import manifest_of

        return manifest_of(self.study)

    def __repr__(self) -> str:
        best = self.best
        shown = "no successful trial" if best is None else (
            f"best trial {best.index}: {self.spec.objective.metric}={best.objective:.6g} "
            f"at cost {best.cost:.6g}")
        return (f"TuneResult({self.name!r}: {len(self.records)} trials, {shown}; "
                f"{self.message})")


def _rows(spec: StudySpec, trials: Sequence[TrialRecord]) -> list[dict[str, Any]]:
    names = [p.name for p in spec.parameters]
    return [{
        "trial": t.index, "phase": t.phase.value, spec.objective.metric: t.objective,
        "cost": t.cost, **{name: t.params.get(name) for name in names},
    } for t in trials]


def _table(spec: StudySpec, trials: Sequence[TrialRecord]) -> Any:
    rows = _rows(spec, trials)
    try:  # optional, and untyped: imported by name
        pandas = importlib.import_module("pandas")
    except ImportError:
        return rows
    return pandas.DataFrame(rows, columns=list(rows[0]) if rows else None)
