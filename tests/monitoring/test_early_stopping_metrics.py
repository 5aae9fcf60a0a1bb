"""The early-stopping series: stopped trials counted from the records (so a restarted
operator reports the same), and the saved-compute estimate its help text describes."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from carbs_operator.metrics import StudyMetrics, last_progress, saved_cost
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord
from tests.support.builders import quad_spec, trial_record


@pytest.fixture
def spec() -> StudySpec:
    return quad_spec()


def _trial(index: int, phase: TrialPhase, cost: float | None = None,
           predicted: float | None = None, finished: float | None = None) -> TrialRecord:
    return trial_record(index, phase, params={"x": 0.0},
                        objective=1.0 if cost is not None else None, cost=cost,
                        predicted_cost=predicted, finished_at=finished)


def test_saved_cost_uses_the_prediction_else_the_median_success() -> None:
    trials = [_trial(0, TrialPhase.SUCCEEDED, 10), _trial(1, TrialPhase.SUCCEEDED, 30),
              _trial(2, TrialPhase.SUCCEEDED, 50),
              _trial(3, TrialPhase.EARLY_STOPPED, 25, predicted=100),  # saves 75
              _trial(4, TrialPhase.EARLY_STOPPED, 5),  # no prediction: median 30, saves 25
              _trial(5, TrialPhase.EARLY_STOPPED, 40),  # past the median: saves nothing
              _trial(6, TrialPhase.FAILED, 7, predicted=1000)]  # not stopped: not counted
    assert saved_cost(trials) == pytest.approx(100.0)


def test_saved_cost_without_any_estimate_adds_nothing() -> None:
    assert saved_cost([]) == 0.0
    assert saved_cost([_trial(0, TrialPhase.EARLY_STOPPED, 5)]) == 0.0
    # A stopped trial without a recorded cost spent nothing we know of: all of it is saved.
    assert saved_cost([_trial(0, TrialPhase.EARLY_STOPPED, predicted=8.0)]) == 8.0


def test_gauges_follow_the_records_and_go_with_the_study(spec: StudySpec) -> None:
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry, version="0")
    labels = {"namespace": "ns", "study": "s"}
    metrics.update_study("ns", "s", spec, [_trial(0, TrialPhase.RUNNING)])
    assert registry.get_sample_value("carbs_early_stopped_trials", labels) == 0
    assert registry.get_sample_value("carbs_early_stopping_saved_cost", labels) == 0
    trials = [_trial(0, TrialPhase.SUCCEEDED, 10),
              _trial(1, TrialPhase.EARLY_STOPPED, 4, predicted=20)]
    metrics.update_study("ns", "s", spec, trials)
    metrics.record_trial_finished("ns", "s", TrialPhase.EARLY_STOPPED.value.lower())
    assert registry.get_sample_value("carbs_early_stopped_trials", labels) == 1
    assert registry.get_sample_value("carbs_early_stopping_saved_cost", labels) == 16
    assert registry.get_sample_value("carbs_total_cost", labels) == 14  # spent counts
    assert registry.get_sample_value("carbs_trials_total",
                                     {**labels, "outcome": "earlystopped"}) == 1
    metrics.remove_study("ns", "s")
    assert registry.get_sample_value("carbs_early_stopped_trials", labels) is None
    assert registry.get_sample_value("carbs_early_stopping_saved_cost", labels) is None


def test_a_stop_is_progress_for_the_stalled_alert() -> None:
    trials = [_trial(0, TrialPhase.SUCCEEDED, 1, finished=100.0),
              _trial(1, TrialPhase.EARLY_STOPPED, 1, finished=250.0),
              _trial(2, TrialPhase.RUNNING)]
    assert last_progress(trials) == 250.0
