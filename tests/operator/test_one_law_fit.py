"""One fit of a study's laws feeds both fields of its status that carry a law (issue 25):
the slope status.scalingLaws shows for a parameter is the slope of the joint law
status.scaleUp's prediction followed, on a fitted Chinchilla-shaped study.

Before, the two were fitted by two adapters with two definitions of the frontier (the
engine's counted every repeat of a frontier point as on the frontier, the operator's only
the first), so a study with repeated points (the engine's resample suggestions) could show
a law in one field that the prediction in the other did not use. The study here has such
repeats.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from carbs_operator.models import ScaleUp, TrialPhase
from carbs_operator.scaleup.predict import scale_up_prediction
from carbs_operator.study import TrialRecord
from carbs_operator.study_laws import study_law_fit
from carbs_operator.study_view import build_view
from carbs_optimizer.laws.allocation import path_reference_cost, path_slopes
from tests.operator.test_allocation import spec_of, study_trials


def trials_with_repeats() -> list[TrialRecord]:
    """A fitted study's trials, plus a repeat of each of its three dearest trials (the same
    parameters, measured again with other noise) and one EarlyStopped and one failed trial,
    which no law may read."""
    trials = study_trials(count=48, seed=7)
    dearest = sorted(trials, key=lambda t: float(t.cost or 0.0))[-3:]
    rng = np.random.default_rng(7)
    index = len(trials)
    for trial in dearest:
        trials.append(replace(trial, index=index,
                              objective=float(trial.objective or 0.0) + rng.normal(0.0, 0.003)))
        index += 1
    trials.append(replace(trials[0], index=index, phase=TrialPhase.EARLY_STOPPED,
                          objective=0.1))  # a censored value far below every measured loss
    trials.append(TrialRecord(index=index + 1, phase=TrialPhase.FAILED, params={}))
    return trials


def test_the_law_shown_is_the_law_the_prediction_followed() -> None:
    spec, trials = spec_of(), trials_with_repeats()
    view = build_view(spec, trials, name="lm")
    prediction = scale_up_prediction(spec, trials)
    assert prediction is not None
    assert prediction.allocation is not None
    fit = prediction.law_fit
    assert fit is not None
    # One fit: the view's laws and the prediction were read off the same object.
    assert fit is study_law_fit(spec, trials)
    assert fit.joint.allocation is prediction.allocation
    assert view.laws == tuple(fit.scaling_laws())
    # status.scaleUp is that prediction.
    assert view.status.scale_up == ScaleUp.model_validate(prediction.to_json())
    # Each numeric law shown is the slope of the prediction's own joint law along its path.
    frontier_costs = np.array([sum(o.cost for o in g) / len(g) for g in fit.frontier])
    slopes, _ = path_slopes(prediction.allocation, prediction.allocation.law,
                            path_reference_cost(frontier_costs))
    shown = {law.parameter: law for law in view.status.scaling_laws}
    for param, slope in zip(prediction.allocation.params, slopes, strict=True):
        assert shown[param.name].fit == "joint"
        assert shown[param.name].slope == pytest.approx(float(slope), rel=1e-12, abs=1e-12)
    assert math.isfinite(float(slopes[0]))
    assert slopes[0] > 0  # model size grows with compute


def test_the_fit_reads_the_succeeded_trials_only() -> None:
    spec, trials = spec_of(), trials_with_repeats()
    succeeded = [t for t in trials if t.phase == TrialPhase.SUCCEEDED]
    fit = study_law_fit(spec, trials)
    assert len(fit.successes) == len(succeeded)
    assert fit is study_law_fit(spec, list(reversed(succeeded)))  # same successes, same fit
    # Every member of a repeated frontier point is on the frontier the joint law reads.
    assert sum(len(group) for group in fit.frontier) == len(fit.joint.frontier)
