"""One study's derived view: what a person reads about a study, computed once.

The operator's status, `carbs frontier` (tables and `--json`), `carbs ui` and `tune()`'s
result all read this one computation, so they cannot disagree about which trials are on
the frontier or what a law says. Within it, the laws of `status.scalingLaws` and the
prediction of `status.scaleUp` come from one fit of the study's laws (study_laws.py). It
is pure: (spec, trial records) in, a frozen view out; the caller passes the clock and the
previous status, as status.study_status asks.
Serialising it for people and scripts is view_json's job, drawing it reports'.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from carbs_operator.frontier import pareto_frontier
from carbs_operator.models import StudySpec, StudyStatus
from carbs_operator.status import study_status, usable_trials
from carbs_operator.study import TrialRecord
from carbs_operator.study_laws import study_law_fit
from carbs_optimizer import ScalingLaw as FittedLaw


@dataclass(frozen=True)
class StudyView:
    """A study as every consumer shows it.

    `frontier` holds every frontier point, cheapest first (status.paretoFrontier is this
    list thinned to its schema's bound); `status` is exactly what the operator writes.
    """

    name: str
    namespace: str
    spec: StudySpec
    trials: tuple[TrialRecord, ...]
    laws: tuple[FittedLaw, ...]
    status: StudyStatus
    frontier: tuple[TrialRecord, ...]

    @property
    def frontier_indices(self) -> frozenset[int]:
        return frozenset(t.index for t in self.frontier)

    def trial(self, index: int) -> TrialRecord | None:
        return next((t for t in self.trials if t.index == index), None)


def build_view(
    spec: StudySpec,
    trials: Sequence[TrialRecord],
    *,
    name: str,
    namespace: str = "local",
    previous: StudyStatus | None = None,
    generation: int | None = None,
    now: datetime | None = None,
    laws: Sequence[FittedLaw] | None = None,
) -> StudyView:
    """The view of study `name`; `laws` may be passed where the caller already fitted
    them (the engine's scaling_laws over the same trials), else they are read off the
    study's law fit, the one status.scaleUp's prediction follows (study_laws.py)."""
    records = tuple(sorted(trials, key=lambda t: t.index))
    fitted = tuple(study_law_fit(spec, records).scaling_laws() if laws is None else laws)
    status = study_status(spec, records, fitted, generation, previous,
                          now or datetime.now(UTC), study=name)
    usable = usable_trials(records)
    frontier = tuple(pareto_frontier(spec, usable, limit=max(len(usable), 2)))
    return StudyView(name=name, namespace=namespace, spec=spec, trials=records, laws=fitted,
                     status=status, frontier=frontier)
