"""Numbers and laws as the words a person reads, the same in every table, log and page.

Pure text (no rich, no matplotlib): the progress display, the reports, `carbs predict`
and the UI's JSON all phrase a law through these functions.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from carbs_operator.models import StudySpec

if TYPE_CHECKING:  # the engine (torch) loads only where a law was fitted
    from carbs_optimizer import ScalingLaw


def fmt_number(value: float | None) -> str:
    """Four significant digits: costs span decades (FLOPs) while objectives are ~1."""
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"


def param_text(spec: StudySpec, name: str, value: float | str | None) -> str:
    """A parameter's value as declared: choices verbatim, integers without a point."""
    if value is None:
        return "—"
    if isinstance(value, str):  # a choice, or a string ordinal: exactly as declared
        return value
    if spec.parameter(name).integer:
        return str(round(value))
    return fmt_number(value)


def cost_label(spec: StudySpec) -> str:
    """What the cost axis counts: the reported metric, else the measured source."""
    return spec.cost.metric or str(spec.cost.source or "cost")


def r2_text(r2: float | None) -> str:
    """R² as a reading only where it is one: below 0 the frontier's points lie further
    from the law than from their own mean, so the law does not describe them at all."""
    if r2 is None or not math.isfinite(r2):
        return "—"
    if r2 < 0:
        return "poor"
    return f"{r2:.2f}"


def interval_text(law: ScalingLaw) -> str:
    """The exponent's 80% interval, e.g. `0.44 to 0.53`."""
    if law.exponent_interval is None:
        return "—"
    low, high = law.exponent_interval
    return f"{low:+.2f} to {high:+.2f}"


def slope_text(law: ScalingLaw) -> str:
    """The law itself, in the units it was fitted in (log10 cost)."""
    if law.space == "log":
        return f"{law.parameter} ∝ cost^{law.exponent:.2f}"
    if law.space == "logit":
        return f"log10-odds of {law.parameter}: {law.exponent:+.2g} per decade of cost"
    return f"{law.parameter}: {law.exponent:+.3g} per decade of cost"


def law_reading(law: ScalingLaw) -> str:
    """One phrase a person can act on: the law with its interval, or why there is none."""
    from carbs_optimizer import (
        VERDICT_NO_LAW,
        VERDICT_SATURATED,
        VERDICT_TOO_FEW,
    )

    if law.bands is not None:
        return band_reading(law)
    if law.verdict == VERDICT_TOO_FEW or law.exponent is None:
        return f"too few frontier points ({law.points}) to fit a law"
    interval = "" if law.exponent_interval is None else f" (80%: {interval_text(law)})"
    if law.verdict == VERDICT_NO_LAW:
        held = "" if law.held_value is None else f"; keep it near {fmt_number(law.held_value)}"
        return f"no law: {law.parameter} does not move with cost{interval}{held}"
    if law.verdict == VERDICT_SATURATED:
        past = ("" if law.saturation_cost is None
                else f" past {fmt_number(law.saturation_cost)}")
        low, high = law.exponent_interval or (law.exponent, law.exponent)
        below = (f"{slope_text(law)} below that{interval}" if low * high > 0 else
                 f"no law below it either{interval}")
        return f"saturated: the objective stops improving{past}; {below}; none beyond it"
    return f"{slope_text(law)}{interval}"  # VERDICT_LAW


def band_reading(law: ScalingLaw) -> str:
    """A categorical or ordinal parameter along the frontier: the value per cost band,
    e.g. `relu up to 3.2e+09, gelu from 5.1e+09`."""
    bands = law.bands or ()
    if not bands:
        return "no frontier points"
    if len(bands) == 1:
        return f"{bands[0].value} all along the frontier"
    parts = [f"{bands[0].value} up to {fmt_number(bands[0].max_cost)}"]
    parts += [f"{b.value} from {fmt_number(b.min_cost)}" for b in bands[1:]]
    return ", ".join(parts)
