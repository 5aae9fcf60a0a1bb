"""Scale-up prediction: the objective's law, refusals, legal values and the JSON shape."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from carbs_operator.models import CarbsStudy, StudySpec, TrialPhase
from carbs_operator.scaleup.predict import (
    CURVE_MULTIPLES,
    PredictionRefusedError,
    band_choice,
    law_curve,
    legal_value,
    predict_scale_up,
    scale_up_prediction,
)
from carbs_operator.study import TrialRecord
from carbs_operator.validation import parse_study
from carbs_optimizer.laws.objective import ObjectiveLaw, fit_objective_law

E, A, ALPHA = 0.5, 4.0, 0.3


def true_loss(cost: float) -> float:
    return E + A * float(cost**-ALPHA)


def manifest(*parameters: dict[str, Any], direction: str = "minimize") -> dict[str, Any]:
    return {
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy", "metadata": {"name": "law"},
        "spec": {
            "objective": {"metric": "loss", "direction": direction},
            "cost": {"metric": "flops"},
            "parameters": list(parameters) or [
                {"name": "size", "space": "log", "min": 1, "max": 1e6, "integer": True,
                 "roundingFactor": 8},
                {"name": "lr", "space": "log", "min": 1e-5, "max": 1.0},
                {"name": "dropout", "space": "logit", "min": 0.01, "max": 0.9},
                {"name": "warmup", "space": "linear", "min": 0.0, "max": 1.0},
            ],
            "budget": {"maxTrials": 50, "maxFailedTrials": 5},
            "trialTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "t", "image": "x", "command": ["true"]}]}}}},
        },
    }


def spec_of(*parameters: dict[str, Any], direction: str = "minimize") -> StudySpec:
    study: CarbsStudy = parse_study(manifest(*parameters, direction=direction))
    return study.spec


def frontier_trials(costs: list[float], loss: Any = true_loss) -> list[TrialRecord]:
    """Trials on a known frontier: size ∝ cost^0.5, lr ∝ cost^-0.2, dropout and warmup
    wandering (no trend), loss on the law."""
    trials = []
    for index, cost in enumerate(costs):
        wobble = (-1) ** index * 0.03
        trials.append(TrialRecord(
            index=index, phase=TrialPhase.SUCCEEDED, objective=loss(cost), cost=cost,
            params={"size": 8.0 * round(cost**0.5 / 8.0) or 8.0, "lr": 1e-2 * cost**-0.2,
                    "dropout": 0.1 + wobble, "warmup": 0.3 - wobble},
        ))
    return trials


COSTS = [10.0 ** (2 + 0.25 * i) for i in range(13)]  # 1e2 .. 1e5, 13 points


def test_objective_law_recovers_a_known_law() -> None:
    law = fit_objective_law(COSTS, [true_loss(c) for c in COSTS], sign=1)
    assert law is not None
    assert law(1e6) == pytest.approx(true_loss(1e6), rel=1e-3)
    assert law.exponent == pytest.approx(ALPHA, rel=0.05)
    assert law.floor == pytest.approx(E, abs=0.02)


def test_objective_law_is_robust_to_one_lucky_point() -> None:
    losses = [true_loss(c) for c in COSTS]
    losses[3] -= 0.25  # one cheap trial far luckier than its cost allows
    law = fit_objective_law(COSTS, losses, sign=1)
    assert law is not None
    assert law(1e6) == pytest.approx(true_loss(1e6), rel=0.03)


def test_maximized_objective_rises_toward_a_ceiling() -> None:
    accuracy = [1.0 - true_loss(c) / 10 for c in COSTS]
    law = fit_objective_law(COSTS, accuracy, sign=-1)
    assert law is not None
    assert law(1e6) == pytest.approx(1.0 - true_loss(1e6) / 10, rel=1e-3)
    assert law(1e9) > law(1e6)


def test_prediction_follows_the_laws_with_intervals() -> None:
    spec = spec_of()
    trials = frontier_trials(COSTS)
    prediction = predict_scale_up(spec, trials, 1e6)
    assert prediction.extrapolation == pytest.approx(10.0)
    assert prediction.objective == pytest.approx(true_loss(1e6), rel=0.01)
    lo, hi = prediction.objective_interval
    assert lo <= prediction.objective <= hi
    size = prediction.params["size"]
    assert isinstance(size, int)
    assert size % 8 == 0
    assert size == pytest.approx(1000, rel=0.05)  # 1e6 ** 0.5 (the trials' sizes are rounded)
    assert float(prediction.params["lr"]) == pytest.approx(1e-2 * 1e6**-0.2, rel=0.05)
    # Trendless parameters stay where the dearest trials have them, not extrapolated.
    assert 0.07 <= float(prediction.params["dropout"]) <= 0.13
    assert 0.27 <= float(prediction.params["warmup"]) <= 0.33
    for name, (low, high) in prediction.intervals.items():
        assert float(low) <= float(prediction.params[name]) <= float(high), name


def test_json_has_exactly_the_issues_shape() -> None:
    prediction = predict_scale_up(spec_of(), frontier_trials(COSTS), 1e6)
    document = json.loads(json.dumps(prediction.to_json()))
    assert set(document) == {"cost", "params", "intervals", "objective", "objectiveInterval",
                             "extrapolation"}
    assert document["cost"] == 1e6
    assert set(document["params"]) == set(document["intervals"]) == {
        "size", "lr", "dropout", "warmup"}
    assert all(len(pair) == 2 for pair in document["intervals"].values())
    assert len(document["objectiveInterval"]) == 2
    assert isinstance(document["params"]["size"], int)
    assert all(isinstance(v, int) for v in document["intervals"]["size"])
    assert document["extrapolation"] == pytest.approx(10.0)


def test_prediction_is_deterministic() -> None:
    spec, trials = spec_of(), frontier_trials(COSTS)
    assert predict_scale_up(spec, trials, 1e6) == predict_scale_up(spec, trials, 1e6)


def test_refuses_a_short_frontier() -> None:
    with pytest.raises(PredictionRefusedError, match=r"too short: 3 point\(s\)"):
        predict_scale_up(spec_of(), frontier_trials(COSTS[:3]), 1e6)
    with pytest.raises(PredictionRefusedError, match="too short: 0 point"):
        predict_scale_up(spec_of(), [], 1e6)


def test_refuses_a_frontier_spanning_too_little_cost() -> None:
    costs = [1000.0, 1100.0, 1200.0, 1300.0, 1500.0]
    with pytest.raises(PredictionRefusedError, match=r"span 0\.18 decades"):
        predict_scale_up(spec_of(), frontier_trials(costs), 1e6)


def test_refuses_a_flat_frontier() -> None:
    trials = frontier_trials(COSTS, loss=lambda cost: 1.0 - 1e-6 * math.log10(cost))
    with pytest.raises(PredictionRefusedError, match="too flat"):
        predict_scale_up(spec_of(), trials, 1e6)


def test_refuses_a_bad_cost() -> None:
    for cost in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(PredictionRefusedError, match="positive finite"):
            predict_scale_up(spec_of(), frontier_trials(COSTS), cost)


def test_failed_and_running_trials_do_not_make_the_frontier() -> None:
    trials = [
        *frontier_trials(COSTS[:3]),
        TrialRecord(index=10, phase=TrialPhase.FAILED, cost=1e9, params={}),
        TrialRecord(index=11, phase=TrialPhase.RUNNING, params={}),
    ]
    with pytest.raises(PredictionRefusedError, match="too short"):
        predict_scale_up(spec_of(), trials, 1e6)


# ------------------------------------------------------------------ legal values per kind


def _parameter(**fields: Any) -> Any:
    return spec_of({"name": "p", **fields}).parameters[0]


def test_integer_values_are_multiples_of_the_rounding_factor_inside_the_bounds() -> None:
    width = _parameter(space="log", min=8, max=1020, integer=True, roundingFactor=8)
    assert legal_value(width, 99.0) == 96
    assert legal_value(width, 5000.0) == 1016  # 1024 is past max: the largest multiple
    assert legal_value(width, 1.0) == 8
    assert isinstance(legal_value(width, 99.0), int)
    assert legal_value(width, 5000.0, clip=False) == 5000


def test_linear_and_logit_values_stay_inside_the_bounds() -> None:
    linear = _parameter(space="linear", min=-1.0, max=1.0)
    assert legal_value(linear, 3.0) == 1.0
    assert legal_value(linear, 0.25) == 0.25
    logit = _parameter(space="logit", min=0.01, max=0.5)
    assert legal_value(logit, 0.9) == 0.5
    assert isinstance(legal_value(logit, 0.2), float)


def test_a_law_pointing_outside_the_space_is_clipped_and_reported() -> None:
    spec = spec_of({"name": "size", "space": "log", "min": 1, "max": 400, "integer": True},
                   {"name": "lr", "space": "log", "min": 1e-5, "max": 1.0},
                   {"name": "dropout", "space": "logit", "min": 0.01, "max": 0.9},
                   {"name": "warmup", "space": "linear", "min": 0.0, "max": 1.0})
    trials = [t for t in frontier_trials(COSTS) if float(t.params["size"]) <= 400]
    prediction = predict_scale_up(spec, trials, 1e6)
    assert prediction.params["size"] == 400
    assert prediction.beyond["size"] == pytest.approx(1000, rel=0.1)


class _Choice:
    """A categorical or ordinal parameter as the spec will describe it (space, values)."""

    def __init__(self, space: str, values: list[Any] | None = None) -> None:
        self.name = "choice"
        self.space = type("Space", (), {"value": space})()
        self.values = values


def test_categorical_takes_the_highest_cost_bands_choice() -> None:
    points = [(1.0, "sgd"), (2.0, "sgd"), (3.0, "sgd"), (4.0, "adam"), (5.0, "lion"),
              (6.0, "adam")]
    value, interval = band_choice(_Choice("categorical"), points)  # type: ignore[arg-type]
    assert value == "adam"
    assert interval == ("adam", "adam")


def test_ordinal_interval_spans_the_band_in_the_spaces_order() -> None:
    points = [(1.0, 32), (2.0, 32), (3.0, 64), (4.0, 64), (5.0, 32), (6.0, 64),
              (7.0, 256), (8.0, 128), (9.0, 128)]  # the band: the dearest third
    ordinal = _Choice("ordinal", [32, 64, 128, 256])
    value, interval = band_choice(ordinal, points)  # type: ignore[arg-type]
    assert value == 128
    assert interval == (128, 256)


def test_band_ties_go_to_the_dearest_points_value() -> None:
    value, _ = band_choice(_Choice("categorical"),  # type: ignore[arg-type]
                           [(1.0, "a"), (2.0, "b"), (3.0, "c")])
    assert value == "c"


# ------------------------------------------------------------- status and metrics helpers


def test_scale_up_prediction_is_at_ten_times_the_largest_finished_trial() -> None:
    trials = [*frontier_trials(COSTS),
              TrialRecord(index=99, phase=TrialPhase.FAILED, cost=2e5, params={})]
    prediction = scale_up_prediction(spec_of(), trials)
    assert prediction is not None
    assert prediction.cost == pytest.approx(2e6)
    assert prediction.extrapolation == pytest.approx(10.0)
    assert scale_up_prediction(spec_of(), frontier_trials(COSTS[:2])) is None
    assert scale_up_prediction(spec_of(), []) is None


def test_a_numerical_failure_of_the_status_prediction_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """status.scaleUp is refreshed by the runner and the operator on every pass: an
    overflow inside the fit (seen once on the digits study) must leave it empty, not stop
    them. `carbs predict` calls predict_scale_up itself and still reports the error."""
    import carbs_operator.scaleup.predict as predict_module

    def overflow(*_: object, **__: object) -> None:
        raise OverflowError("cannot convert float infinity to integer")

    monkeypatch.setattr(predict_module, "predict_scale_up", overflow)
    trials = frontier_trials([c * 1.0001 for c in COSTS])  # not in the cache of other tests
    with caplog.at_level("WARNING", logger="carbs_operator.scaleup.predict"):
        assert scale_up_prediction(spec_of(), trials) is None
    assert "scale-up prediction failed" in caplog.text
    assert "OverflowError" in caplog.text


def test_law_curve_puts_the_law_beside_the_frontier() -> None:
    trials = frontier_trials(COSTS)
    prediction = scale_up_prediction(spec_of(), trials)
    assert prediction is not None
    curve = law_curve(prediction, trials)
    assert {m for m, kind in curve if kind == "law"} == set(CURVE_MULTIPLES)
    assert curve[("10", "law")] == prediction.objective
    assert (curve[("10", "low")], curve[("10", "high")]) == prediction.objective_interval
    assert curve[("1", "frontier")] == true_loss(COSTS[-1])
    assert ("3", "frontier") not in curve  # no trial there
    assert curve[("0.001", "frontier")] == true_loss(COSTS[0])  # 0.001x is the cheapest trial


def test_every_parameter_kind_comes_out_as_a_legal_value() -> None:
    spec = spec_of(
        {"name": "size", "space": "log", "min": 8, "max": 1e6, "integer": True,
         "roundingFactor": 8},
        {"name": "lr", "space": "log", "min": 1e-5, "max": 1.0},
        {"name": "warmup", "space": "linear", "min": 0.0, "max": 0.5, "step": 0.05},
        {"name": "optimizer", "space": "categorical", "choices": ["adam", "sgd", "lion"]},
        {"name": "batch", "space": "ordinal", "values": [32, 64, 128, 256]},
        {"name": "dropout", "space": "logit", "min": 0.01, "max": 0.5},
    )
    trials = []
    for index, cost in enumerate(COSTS):
        dear = index >= 8  # the highest cost band (the dearest 5) uses lion, batch 128/256
        trials.append(TrialRecord(
            index=index, phase=TrialPhase.SUCCEEDED, objective=true_loss(cost), cost=cost,
            params={"size": 8 * max(1, round(cost**0.5 / 8)), "lr": 1e-2 * cost**-0.2,
                    "warmup": [0.1, 0.15][index % 2] + (0.05 if dear else 0.0),
                    "optimizer": "lion" if dear else ["adam", "sgd"][index % 2],
                    "batch": [128, 256][index % 2] if dear else 32,
                    "dropout": 0.1},
        ))
    prediction = predict_scale_up(spec, trials, 1e6)
    params, intervals = prediction.params, prediction.intervals
    assert isinstance(params["size"], int)
    assert params["size"] % 8 == 0
    warmup = params["warmup"]
    assert isinstance(warmup, float)
    assert round(warmup / 0.05, 9).is_integer()  # on the step grid, printed on it
    assert all(round(float(v) / 0.05, 9).is_integer() for v in intervals["warmup"])
    assert params["optimizer"] == "lion"
    assert intervals["optimizer"] == ("lion", "lion")
    assert params["batch"] in (128, 256)
    assert intervals["batch"] == (128, 256)
    assert 0.01 <= float(params["dropout"]) <= 0.5
    document = json.loads(json.dumps(prediction.to_json()))
    assert document["params"]["optimizer"] == "lion"
    assert document["intervals"]["batch"] == [128, 256]


def test_a_stepped_value_stays_on_its_grid_inside_the_bounds() -> None:
    stepped = _parameter(space="linear", min=0.0, max=0.5, step=0.05)
    assert legal_value(stepped, 0.26) == 0.25
    assert legal_value(stepped, 0.9) == 0.5
    assert legal_value(stepped, -3.0) == 0.0
    log_stepped = _parameter(space="log", min=0.5, max=10.0, step=0.5)
    assert legal_value(log_stepped, 2.2) == 2.0
    assert legal_value(log_stepped, 1e9) == 10.0



def test_the_objective_law_overflows_to_infinity_not_an_exception() -> None:
    steep = ObjectiveLaw(floor=1.0, amplitude=1.0, exponent=3.0, reference_cost=1.0, sign=1)
    assert steep(1e-200) == math.inf
    assert ObjectiveLaw(1.0, 1.0, 3.0, 1.0, sign=-1)(1e-200) == -math.inf


def test_the_status_shows_no_prediction_past_a_saturated_frontier() -> None:
    """status.scaleUp extrapolates the laws to 10x the dearest trial; where the laws say
    the objective stopped improving before that cost, no law may be read past it."""
    from datetime import UTC, datetime

    from carbs_operator.status import study_status
    from carbs_optimizer import ScalingLaw

    spec, trials = spec_of(), frontier_trials(COSTS)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    law = ScalingLaw("lr", "log", -0.2, -1.0, 0.9, len(COSTS), exponent_interval=(-0.3, -0.1),
                     verdict="law")
    plain = study_status(spec, trials, [law], None, None, now, study="s")
    assert plain.scale_up is not None
    saturated = replace(law, verdict="saturated", saturation_cost=max(COSTS))
    status = study_status(spec, trials, [saturated], None, None, now, study="s")
    assert status.scale_up is None
    assert status.scaling_laws[0].verdict == "saturated"
    assert status.scaling_laws[0].saturation_cost == max(COSTS)
