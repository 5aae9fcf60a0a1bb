"""A study's laws, fitted once: the engine's one law fit (carbs_optimizer.laws.LawFit) over a
study's trial records.

Both fields of a study's status that carry a law read this fit: `status.scalingLaws`
(study_view.build_view, through `LawFit.scaling_laws`) and `status.scaleUp`
(scaleup/predict.py, which follows `LawFit.joint.allocation` to the target cost). A law a
user reads in one field is therefore the law the other used.

The fit is the engine's own (`CARBS.law_fit`, what `replay.scaling_laws` reports): the
succeeded trials are replayed into an engine (replay.build_engine), and the laws read its
successes. Nothing else is replayed: a failure is no success, and an EarlyStopped trial's
censored value is a bound the search may steer by, not a measurement a law may pass
through. The last fits are kept, keyed by everything they read, so the status's two fields
and the metrics ask for one fit and get the same object.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.replay import build_engine
from carbs_operator.study import TrialRecord
from carbs_optimizer.laws import LawFit

_FITS: OrderedDict[tuple[object, ...], LawFit] = OrderedDict()
_FITS_LOCK = threading.Lock()
_FITS_KEPT = 64


def study_law_fit(spec: StudySpec, trials: Sequence[TrialRecord]) -> LawFit:
    """The fit of the study's laws over its successful trials (the same object for the
    same spec and successes while it is kept)."""
    key = _key(spec, trials)
    with _FITS_LOCK:
        if key in _FITS:
            _FITS.move_to_end(key)
            return _FITS[key]
    succeeded = [t for t in trials if t.phase == TrialPhase.SUCCEEDED]
    fit = build_engine(spec, succeeded, device="cpu").law_fit()
    with _FITS_LOCK:
        fit = _FITS.setdefault(key, fit)  # a fit made meanwhile by another thread wins
        _FITS.move_to_end(key)
        while len(_FITS) > _FITS_KEPT:
            _FITS.popitem(last=False)
    return fit


def _key(spec: StudySpec, trials: Sequence[TrialRecord]) -> tuple[object, ...]:
    """Everything the fit reads: the parameters and direction, and the successes in index
    order (only a succeeded trial is a success to the engine)."""
    return (spec.model_dump_json(include={"objective", "parameters"}), tuple(
        (t.index, t.objective, t.cost, tuple(sorted(t.params.items())))
        for t in sorted(trials, key=lambda t: t.index) if t.phase == TrialPhase.SUCCEEDED))
