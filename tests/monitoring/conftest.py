"""A StudyMetrics with every family filled, and its exposition as name -> label sets."""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import TrialPhase
from carbs_operator.study import TrialRecord
from tests.monitoring.promql import Exposition
from tests.support.builders import quad_spec, trial_record


def filled_registry() -> CollectorRegistry:
    """Every metric of metrics.py with at least one sample, as a busy study has them."""
    spec = quad_spec()
    now = time.time()

    def trial(index: int, phase: TrialPhase, objective: float | None = None,
              cost: float | None = None, predicted: float | None = None) -> TrialRecord:
        finished = now - 60 + index if phase.is_finished else None
        return trial_record(index, phase, objective=objective, cost=cost,
                            params={"lr": 1e-3, "x": 0.1 * index, "size": 10.0},
                            created_at=now - 600 + index, finished_at=finished,
                            predicted_cost=predicted)

    trials = [trial(0, TrialPhase.SUCCEEDED, 1.5, 10), trial(1, TrialPhase.SUCCEEDED, 0.9, 100),
              trial(2, TrialPhase.FAILED, cost=5), trial(3, TrialPhase.LOST),
              trial(4, TrialPhase.RUNNING), trial(5, TrialPhase.PENDING),
              trial(10, TrialPhase.EARLY_STOPPED, 2.0, 30, predicted=120),
              # A frontier long enough for the scale-up law (carbs_scaleup_objective).
              *(trial(6 + i, TrialPhase.SUCCEEDED, 0.5 + 0.4 * 10 ** (-0.5 * i), 300 * 10**i)
                for i in range(4))]
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry, version="1.2.3")
    metrics.update_study("team-a", "quad", spec, trials)
    for outcome in ("succeeded", "succeeded", "failed", "lost", "earlystopped"):
        metrics.record_trial_finished("team-a", "quad", outcome)
    metrics.observe_suggest("team-a", "quad", 0.3)
    metrics.observe_gp_fit("team-a", "quad", 0.1)
    metrics.record_reconcile_error("team-a", "quad")
    return registry


@pytest.fixture(scope="session")
def exposition() -> Exposition:
    text = generate_latest(filled_registry()).decode()
    samples: Exposition = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(dict(sample.labels))
    return samples
