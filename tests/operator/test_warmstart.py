"""Warm start: which finished trials of the source studies seed the engine."""

from __future__ import annotations

from typing import Any

from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.replay import build_engine
from carbs_operator.study import TrialRecord
from carbs_operator.warmstart import seed_records, source_names
from tests.k8s.conftest import study
from tests.support.builders import trial_record


def _spec(**overrides: Any) -> StudySpec:
    return StudySpec.model_validate(study(**overrides)["spec"])


def _trial(index: int, phase: TrialPhase, params: dict[str, float],
           metrics: dict[str, float] | None = None) -> TrialRecord:
    return trial_record(index, phase, params=params, metrics=metrics or {},
                        objective=(metrics or {}).get("loss"), cost=(metrics or {}).get("cost"))


FULL = {"lr": 1e-2, "x": 0.1, "size": 10.0, "depth": 3.0}


def test_trials_are_matched_by_parameter_name_and_skipped_with_a_count() -> None:
    spec = _spec()
    source = [
        _trial(0, TrialPhase.SUCCEEDED, FULL, {"loss": 0.5, "cost": 10.0}),
        _trial(1, TrialPhase.SUCCEEDED, {"lr": 1e-3, "x": 0.2}, {"loss": 0.4, "cost": 2.0}),
        _trial(2, TrialPhase.FAILED, {"lr": 1e-1, "x": 0.9, "size": 2.0}),
        _trial(3, TrialPhase.SUCCEEDED, FULL, {"loss": 0.3}),  # no cost metric
        _trial(4, TrialPhase.RUNNING, FULL),
        _trial(5, TrialPhase.LOST, FULL),
    ]
    seeds = seed_records(spec, [("small", source), ("gone", None)])
    assert seeds.skipped == 2
    assert seeds.missing_studies == ["gone"]
    assert [(r.index, r.phase) for r in seeds.records] == [
        (-2, TrialPhase.SUCCEEDED), (-1, TrialPhase.FAILED)]
    first = seeds.records[0]
    assert dict(first.params) == {"lr": 1e-2, "x": 0.1, "size": 10.0}  # depth dropped
    assert (first.objective, first.cost) == (0.5, 10.0)


def test_the_engine_starts_past_its_random_phase() -> None:
    spec = _spec()
    source = [_trial(i, TrialPhase.SUCCEEDED, {"lr": 10 ** (-1 - i / 3), "x": i / 10,
                                                 "size": 2.0 + i},
                     {"loss": 1.0 / (i + 1), "cost": 2.0 + i}) for i in range(6)]
    seeds = seed_records(spec, [("small", source)])
    engine = build_engine(spec, seeds.records, device="cpu")
    assert len(engine.success_observations) == 6
    kind = engine.suggest().log.get("suggestion_kind")
    assert kind in ("bayesian", "resample")


def test_sources_exclude_the_study_itself_and_repeats() -> None:
    spec = _spec(warmStart={"fromStudies": ["small", "quad", "small", "medium"]})
    assert source_names(spec, "quad") == ["small", "medium"]
    assert source_names(_spec(), "quad") == []
