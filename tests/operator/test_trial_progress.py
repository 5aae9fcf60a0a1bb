"""The runtime-neutral progress logic: curve points from progress lines, a bounded curve,
the notes on ignored progress, the peers a rule sees, the stop decision and the wire form."""

from __future__ import annotations

from typing import Any

from carbs_operator.early_stopping import CurvePoint, StopDecision
from carbs_operator.learning_curves import MAX_CURVE_POINTS, ProgressChunk, ProgressPoint
from carbs_operator.models import CarbsTrial, StudySpec, TrialPhase
from carbs_operator.study import TrialRecord
from carbs_operator.trial_progress import (
    MAX_WARNING_CHARS,
    chunk_warning,
    curve_from_status,
    curve_points,
    curve_to_status,
    extend_curve,
    peers,
    silence_warning,
    stop_decision,
    stop_from_status,
    stop_to_status,
)
from tests.operator.manifest_cases import trial
from tests.support.builders import study_spec, trial_record

P = TrialPhase


def spec(**changes: Any) -> StudySpec:
    return study_spec(**changes)


def test_curve_points_take_the_objective_and_the_cost_metric_from_the_line() -> None:
    points = [ProgressPoint(1, {"val_loss": 0.9, "flops": 1e9}),
              ProgressPoint(2, {"val_loss": 0.8}),  # no cost on this line
              ProgressPoint(3, {"train_loss": 0.1}),  # no objective: not a curve point
              ProgressPoint(4, {"val_loss": 0.7, "flops": -1.0})]  # a negative cost is unknown
    assert curve_points(spec(), points, cost_so_far=99.0) == [
        CurvePoint(1, 0.9, 1e9), CurvePoint(2, 0.8, None), CurvePoint(4, 0.7, None)]


def test_curve_points_take_the_measured_cost_when_cost_is_measured() -> None:
    measured = spec(cost={"source": "runtimeSeconds"})
    points = [ProgressPoint(1, {"val_loss": 0.9, "flops": 1e9})]
    assert curve_points(measured, points, cost_so_far=12.5) == [CurvePoint(1, 0.9, 12.5)]
    assert curve_points(measured, points, cost_so_far=None) == [CurvePoint(1, 0.9, None)]


def test_a_curve_stays_bounded_and_a_step_back_replaces_the_tail() -> None:
    curve: tuple[CurvePoint, ...] = ()
    for step in range(1000):
        curve = extend_curve(curve, [CurvePoint(step, 1.0 / (step + 1), float(step))])
        assert len(curve) <= MAX_CURVE_POINTS
    assert curve[0].step == 0
    assert curve[-1].step == 999
    steps = [p.step for p in curve]
    assert steps == sorted(set(steps))
    resumed = extend_curve(curve, [CurvePoint(500, 0.5)])
    assert resumed[-1] == CurvePoint(500, 0.5)
    assert all(p.step < 500 for p in resumed[:-1])


def test_notes_on_ignored_progress_are_bounded_sentences() -> None:
    assert chunk_warning(ProgressChunk()) is None
    note = chunk_warning(ProgressChunk(problems=3, first_problem="malformed progress line "
                                       "(not JSON)", dropped=5), skipped_bytes=4096)
    assert note is not None
    assert "3 malformed progress lines skipped (first: malformed progress line (not JSON))" in note
    assert "5 progress points" in note
    assert "4096 bytes of output skipped" in note
    long = chunk_warning(ProgressChunk(problems=1, first_problem="x" * 5000))
    assert long is not None
    assert len(long) <= MAX_WARNING_CHARS
    curve = [CurvePoint(7, 0.5)]
    assert silence_warning(None, 100.0, 30.0, curve) is None
    assert silence_warning(90.0, 100.0, 30.0, curve) is None
    assert silence_warning(50.0, 100.0, 30.0, []) is None
    assert silence_warning(50.0, 100.0, 30.0, curve) == (
        "no progress for over 30 s since step 7; the trial is judged on the progress it "
        "reported")
    assert silence_warning(10.0, 100.0, 30.0, curve) == silence_warning(50.0, 100.0, 30.0,
                                                                         curve)


def record(index: int, phase: TrialPhase, objective: float | None = None,
           cost: float | None = None, curve: tuple[CurvePoint, ...] = (),
           predicted: float | None = None) -> TrialRecord:
    return trial_record(index, phase, objective=objective, cost=cost, curve=curve,
                        predicted_cost=predicted)


def good_curve(final: float) -> tuple[CurvePoint, ...]:
    return tuple(CurvePoint(s, final + (10 - s) * 0.1, 10.0 * s) for s in range(1, 11))


def test_peers_carry_results_only_for_succeeded_trials() -> None:
    trials = [record(0, P.SUCCEEDED, 0.5, 100.0, good_curve(0.5)),
              record(1, P.EARLY_STOPPED, 0.9, 20.0, good_curve(0.9)[:2]),
              record(2, P.FAILED), record(3, P.RUNNING, curve=good_curve(1.0)[:1])]
    seen = peers(trials, exclude=3)
    assert [(p.objective, p.cost, len(p.curve)) for p in seen] == [
        (0.5, 100.0, 10), (None, None, 2)]


def test_stop_decision_needs_spec_early_stopping_and_then_asks_the_rule() -> None:
    peers_done = [record(i, P.SUCCEEDED, 0.5 + 0.01 * i, 100.0, good_curve(0.5 + 0.01 * i))
                  for i in range(6)]
    bad = tuple(CurvePoint(s, 5.0, 10.0 * s) for s in range(1, 6))
    running = record(9, P.RUNNING, curve=bad, predicted=100.0)
    assert stop_decision(spec(), running, bad, peers_done) is None
    for rule in ("Median", "Frontier"):
        stopping = spec(earlyStopping={"rule": rule, "minTrials": 3})
        decision = stop_decision(stopping, running, bad, peers_done)
        assert decision is not None, rule
        assert decision.step == 5
        assert decision.objective == 5.0
        assert "val_loss" in decision.reason
        good = tuple(CurvePoint(s, 0.4, 10.0 * s) for s in range(1, 6))
        assert stop_decision(stopping, running, good, peers_done) is None
        assert stop_decision(stopping, running, (), peers_done) is None


def test_the_wire_form_round_trips_and_tolerates_garbage() -> None:
    curve = (CurvePoint(0, 1.5, 1e8), CurvePoint(1, 0.9))
    stop = StopDecision("worse than the frontier", 1, 0.9, 2e8)
    status = {"phase": "EarlyStopped", "learningCurve": curve_to_status(curve),
              "earlyStop": stop_to_status(stop, "2026-01-01T00:00:00Z")}
    obj = trial()
    obj["status"] = status
    CarbsTrial.model_validate(obj)  # the wire form is what the model (and the CRD) accept
    assert curve_from_status(status["learningCurve"]) == curve
    assert stop_from_status(status["earlyStop"]) == stop
    garbage = [None, "x", {"step": "1", "objective": 1}, {"step": True, "objective": 1},
               {"step": 1, "objective": float("nan")}, {"step": -1, "objective": 1},
               {"step": 2, "objective": 1, "cost": "big"}]
    assert curve_from_status(garbage) == (CurvePoint(2, 1.0, None),)
    assert curve_from_status("not a list") == ()
    assert curve_from_status(None) == ()
    assert stop_from_status({"step": 1}) is None
    assert stop_from_status({"step": 1, "objective": 2.0, "reason": 5}) == StopDecision(
        "stopped early", 1, 2.0, None)
