"""Prometheus metrics: names, labels, values, removal, serving, and promtool's lint."""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families

from carbs_operator.metrics import (
    QUANTILES,
    StudyMetrics,
    frontier_objective_at,
    last_progress,
    serve,
)
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.study import TrialRecord
from tests.support.builders import digits_trial, example_spec

OK = TrialPhase.SUCCEEDED


@pytest.fixture
def spec() -> StudySpec:
    """The example's spec with the budget these tests count against pinned."""
    return example_spec(max_trials=30, max_failed_trials=5)


TRIALS = [
    digits_trial(0, OK, 0.5, 1e9), digits_trial(1, OK, 0.3, 1e10), digits_trial(2, OK, 0.4, 2e10),
    digits_trial(3, OK, 0.2, 1e11), digits_trial(4, OK, 0.1, 1e12),
    digits_trial(5, TrialPhase.FAILED, cost=5e8), digits_trial(6, TrialPhase.RUNNING),
    digits_trial(7, TrialPhase.PENDING), digits_trial(8, TrialPhase.PENDING),
]


def _samples(registry: CollectorRegistry) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return _samples(registry).get((name, frozenset(labels.items())))


def _filled(spec: StudySpec) -> tuple[CollectorRegistry, StudyMetrics]:
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry, version="1.2.3")
    metrics.update_study("local", "digits", spec, TRIALS)
    metrics.record_trial_finished("local", "digits", "succeeded")
    metrics.record_trial_finished("local", "digits", "failed")
    metrics.observe_suggest("local", "digits", 0.2)
    metrics.observe_gp_fit("local", "digits", 0.05)
    metrics.record_reconcile_error("local", "digits")
    # A finish time, so the exposition promtool lints has every family in it.
    metrics.update_study("team-a", "other", spec, [replace(TRIALS[0], finished_at=1.7e9)])
    return registry, metrics


def test_values_and_labels(spec: StudySpec) -> None:
    registry, _ = _filled(spec)
    study = {"namespace": "local", "study": "digits"}
    assert _value(registry, "carbs_trials_total", outcome="succeeded", **study) == 1
    assert _value(registry, "carbs_trials_total", outcome="lost", **study) == 0
    assert _value(registry, "carbs_trials_in_flight", phase="running", **study) == 1
    assert _value(registry, "carbs_trials_in_flight", phase="pending", **study) == 2
    assert _value(registry, "carbs_best_objective", **study) == 0.1
    assert _value(registry, "carbs_total_cost", **study) == pytest.approx(
        1e9 + 1e10 + 2e10 + 1e11 + 1e12 + 5e8)
    assert _value(registry, "carbs_frontier_points", **study) == 4
    frontier = {q: _value(registry, "carbs_frontier_objective", cost_quantile=q, **study)
                for q in QUANTILES}
    assert frontier == {"0": 0.5, "0.25": 0.5, "0.5": 0.3, "0.75": 0.2, "1": 0.1}
    assert _value(registry, "carbs_suggest_duration_seconds_count", **study) == 1
    assert _value(registry, "carbs_suggest_duration_seconds_sum", **study) == 0.2
    assert _value(registry, "carbs_gp_fit_duration_seconds_count", **study) == 1
    assert _value(registry, "carbs_reconcile_errors_total", **study) == 1
    assert _value(registry, "carbs_build_info", version="1.2.3") == 1
    for (name, labels), _v in _samples(registry).items():
        assert name.startswith("carbs_")
        keys = {key for key, _ in labels}
        if name != "carbs_build_info":
            assert {"namespace", "study"} <= keys
        assert not keys & {"trial", "index", "params"}  # nothing per trial


def test_no_best_or_frontier_until_a_success(spec: StudySpec) -> None:
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    metrics.update_study("local", "s", spec, [digits_trial(0, TrialPhase.FAILED, cost=1.0)])
    assert _value(registry, "carbs_best_objective", namespace="local", study="s") is None
    assert not any(name == "carbs_frontier_objective" for name, _ in _samples(registry))
    assert _value(registry, "carbs_trials_total", namespace="local", study="s",
                  outcome="failed") == 0  # present at zero from the start


def test_remove_study_drops_only_its_series(spec: StudySpec) -> None:
    registry, metrics = _filled(spec)
    metrics.remove_study("local", "digits")
    studies = {dict(labels).get("study") for _, labels in _samples(registry)}
    assert "digits" not in studies
    assert "other" in studies
    metrics.remove_study("local", "digits")  # idempotent
    metrics.remove_study("nowhere", "never")


def test_last_trial_finished_timestamp(spec: StudySpec) -> None:
    """The stalled-study alert's clock: the latest conclusion, else the first creation; lost
    trials (replaced, not concluded) do not move it."""
    created = [replace(t, created_at=100.0 + t.index) for t in TRIALS]
    assert last_progress([]) is None
    assert last_progress([digits_trial(0, TrialPhase.RUNNING)]) is None  # no times recorded
    assert last_progress(created) == 100.0  # nothing has a finish time yet
    done = [replace(t, finished_at=500.0 + t.index) if t.phase.is_finished else t
            for t in created]
    lost = replace(digits_trial(9, TrialPhase.LOST), created_at=1.0, finished_at=9e9)
    assert last_progress([*done, lost]) == 505.0  # trial 5 (failed) concluded last
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    metrics.update_study("local", "s", spec, [*done, lost])
    name = "carbs_last_trial_finished_timestamp_seconds"
    assert _value(registry, name, namespace="local", study="s") == 505.0
    metrics.update_study("local", "s", spec, [])
    assert _value(registry, name, namespace="local", study="s") is None
    metrics.update_study("local", "s", spec, done)
    metrics.remove_study("local", "s")
    assert _value(registry, name, namespace="local", study="s") is None


def test_rejects_unknown_outcome(spec: StudySpec) -> None:
    metrics = StudyMetrics(CollectorRegistry())
    with pytest.raises(ValueError, match="outcome"):
        metrics.record_trial_finished("local", "s", "cancelled")


def test_registries_are_isolated() -> None:
    StudyMetrics(CollectorRegistry())
    StudyMetrics(CollectorRegistry())  # would raise "Duplicated timeseries" if shared


def test_frontier_quantiles_pick_real_points() -> None:
    frontier = [digits_trial(i, OK, 1.0 - i / 10, 10.0 ** i) for i in range(3)]
    assert [frontier_objective_at(frontier, float(q)) for q in QUANTILES] == [
        1.0, 1.0, 0.9, 0.9, 0.8]
    assert frontier_objective_at(frontier[:1], 0.5) == 1.0


def test_openmetrics_exposition_parses(spec: StudySpec) -> None:
    """Prometheus asks for OpenMetrics: every family name must be unique there."""
    registry, _ = _filled(spec)
    text = generate_openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    families = parse_openmetrics(text)  # type: ignore[no-untyped-call]
    names = [family.name for family in families]
    assert len(names) == len(set(names))
    assert {"carbs_trials", "carbs_trials_in_flight", "carbs_build"} <= set(names)


def test_serve_and_shutdown(spec: StudySpec) -> None:
    registry, _ = _filled(spec)
    server = serve(registry, 0)
    try:
        assert server.port > 0
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
        assert 'carbs_best_objective{namespace="local",study="digits"} 0.1' in body
    finally:
        server.shutdown()
    server.close()  # a second stop is harmless


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not on PATH (apt-get install prometheus provides it)")
def test_promtool_check_metrics(spec: StudySpec) -> None:
    registry, _ = _filled(spec)
    result = subprocess.run(["promtool", "check", "metrics"], input=generate_latest(registry),
                            capture_output=True, timeout=30, check=False)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()


def test_frontier_recomputed_only_when_successes_change(
    spec: StudySpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    import carbs_operator.metrics as module
    from carbs_operator.frontier import pareto_frontier as real

    calls: list[int] = []

    def counting(spec: StudySpec, trials: list[TrialRecord]) -> list[TrialRecord]:
        calls.append(len(trials))
        return real(spec, trials)

    monkeypatch.setattr(module, "pareto_frontier", counting)
    registry = CollectorRegistry()
    metrics = StudyMetrics(registry)
    first = [digits_trial(0, OK, 0.5, 1e9), digits_trial(1, TrialPhase.RUNNING)]
    metrics.update_study("local", "s", spec, first)
    metrics.update_study("local", "s", spec, [*first, digits_trial(2, TrialPhase.PENDING)])
    assert len(calls) == 1
    metrics.update_study("local", "s", spec, [first[0], digits_trial(1, OK, 0.3, 1e10)])
    assert len(calls) == 2
    assert _value(registry, "carbs_frontier_points", namespace="local", study="s") == 2
    metrics.remove_study("local", "s")
    metrics.update_study("local", "s", spec, first)
    assert len(calls) == 3
