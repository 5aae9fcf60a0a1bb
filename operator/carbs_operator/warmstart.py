"""Warm start: seed a study's engine with the finished trials of other studies.

The iterate-and-scale-up loop of the CARBS paper: run a cheap study, then start a larger one
(wider bounds, a bigger budget, one more parameter) that already knows what the first one
measured. Both runtimes use this module: the operator with `spec.warmStart.fromStudies`
(studies in the same namespace), `carbs run` with the same field or `--warm-start OTHER.yaml`.

Parameters are matched by name. A finished trial of a source study becomes an observation of
this one when it has a value for every parameter of this study (extra ones are dropped) and,
if it succeeded, the metrics this study's objective and cost read; otherwise it is skipped
and counted. Seeds get negative indices, so replay observes them before the study's own
trials; they never count toward this study's budget or status counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord


@dataclass(frozen=True)
class Seeds:
    """The seed records and what became of the source trials."""

    records: list[TrialRecord] = field(default_factory=list)
    skipped: int = 0
    missing_studies: list[str] = field(default_factory=list)


def _objective_and_cost(spec: StudySpec, trial: TrialRecord) -> tuple[float, float] | None:
    objective = trial.metrics.get(spec.objective.metric)
    if spec.cost.metric is not None:
        cost = trial.metrics.get(spec.cost.metric)
    else:  # measured cost (runtime or GPU seconds): what the source measured
        cost = trial.cost
    if objective is None or cost is None:
        return None
    if not (math.isfinite(objective) and math.isfinite(cost) and cost > 0):
        return None
    return float(objective), float(cost)


def seed_records(
    spec: StudySpec, sources: Iterable[tuple[str, Sequence[TrialRecord] | None]]
) -> Seeds:
    """Seeds from `(study name, its trial records or None when it does not exist)`."""
    names = [p.name for p in spec.parameters]
    kept: list[TrialRecord] = []
    skipped = 0
    missing: list[str] = []
    for study, trials in sources:
        if trials is None:
            missing.append(study)
            continue
        for trial in sorted(trials, key=lambda t: t.index):
            if trial.phase not in (TrialPhase.SUCCEEDED, TrialPhase.FAILED):
                continue  # in flight or lost: nothing measured
            if any(name not in trial.params for name in names):
                skipped += 1
                continue
            params = {name: trial.params[name] for name in names}
            if trial.phase == TrialPhase.FAILED:
                kept.append(TrialRecord(index=0, params=params, phase=TrialPhase.FAILED))
                continue
            measured = _objective_and_cost(spec, trial)
            if measured is None:
                skipped += 1
                continue
            kept.append(TrialRecord(index=0, params=params, phase=TrialPhase.SUCCEEDED,
                                    objective=measured[0], cost=measured[1],
                                    metrics=dict(trial.metrics)))
    # Negative indices, in source order: replay observes them first, and they can never
    # collide with the study's own trials (0, 1, ...).
    count = len(kept)
    records = [replace(r, index=i - count) for i, r in enumerate(kept)]
    return Seeds(records, skipped, missing)


def source_names(spec: StudySpec, study: str) -> list[str]:
    """The source studies of `spec`, without `study` itself and without repeats."""
    if spec.warm_start is None:
        return []
    out: list[str] = []
    for name in spec.warm_start.from_studies:
        if name != study and name not in out:
            out.append(name)
    return out
