"""The search signature: what a study's existing trials fix, the same in both runtimes.

The operator stamps it on every CarbsTrial it creates; `carbs run` keeps it in the state
file. Either refuses to go on under a spec whose search differs from the one its trials
were made under, and names the part that moved (an edit of `carbs.seed` is refused by both).

On a cluster, the CRD refuses edits of the fields that define a search (CEL `self == oldSelf` on the
objective, the cost, the parameters and the engine settings replay depends on). A cluster
whose CRD is older than the operator lacks those rules, so the operator checks too: each
trial carries, in an annotation, a short hash of each of those parts of the spec it was
made under. A study whose spec no longer matches its trials is marked Invalid with reason
SearchChanged and gets no new trial; reverting the edit resumes it.

An annotation, not a status field: an older CRD would prune an unknown status field, and
the trials are the operator's durable record anyway.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from carbs_operator.models import StudySpec

SIGNATURE_ANNOTATION = "carbs.dev/search-signature"
# Engine settings whose change would make replaying the finished trials mean something else
# (the random stream and the schedule of random and resampled suggestions).
REPLAY_SETTINGS = ("seed", "num_random_samples", "resample_frequency")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def signature_parts(spec: StudySpec) -> dict[str, str]:
    """A hash per part of the spec that defines the search, by its manifest field name."""
    carbs = spec.carbs.model_dump(mode="json")
    return {
        "objective": _digest(spec.objective.model_dump(mode="json", by_alias=True)),
        "cost": _digest(spec.cost.model_dump(mode="json", by_alias=True)),
        "parameters": _digest([p.model_dump(mode="json", by_alias=True)
                               for p in spec.parameters]),
        "carbs": _digest({name: carbs[name] for name in REPLAY_SETTINGS}),
    }


def encode(parts: Mapping[str, str]) -> str:
    """`objective=…,cost=…,parameters=…,carbs=…`: short, and says which part moved."""
    return ",".join(f"{name}={value}" for name, value in parts.items())


def decode(text: str) -> dict[str, str]:
    """The parts of an annotation value; malformed pieces are ignored (user-editable)."""
    out = {}
    for piece in text.split(","):
        name, sep, value = piece.partition("=")
        if sep and name and value:
            out[name.strip()] = value.strip()
    return out


def search_signature(spec: StudySpec) -> str:
    """The encoded signature of `spec`, as stamped and stored."""
    return encode(signature_parts(spec))


def changed_in(spec: StudySpec, stamps: Iterable[str]) -> list[str]:
    """The parts of `spec` that differ from any of the `stamps` its trials were made under
    (in the order of signature_parts)."""
    current = signature_parts(spec)
    changed: set[str] = set()
    for stamp in set(stamps):  # thousands of trials, a stamp or two: decode each once
        for name, value in decode(stamp).items():
            if name in current and current[name] != value:
                changed.add(name)
    return [name for name in current if name in changed]


def changed_parts(spec: StudySpec, trials: Iterable[Mapping[str, Any]]) -> list[str]:
    """The parts of `spec` that differ from what any existing CarbsTrial was made under.

    Trials without the annotation (made by an older operator) say nothing and are skipped.
    """
    stamps = [((trial.get("metadata") or {}).get("annotations") or {}).get(
        SIGNATURE_ANNOTATION) for trial in trials]
    return changed_in(spec, [s for s in stamps if isinstance(s, str)])


def changed_message(parts: list[str], trials: int) -> str:
    """What the user reads in the Valid condition and the Warning event."""
    fields = ", ".join(f"spec.{part}" for part in parts)
    return (f"{fields} changed after {trials} trial(s) ran under the old value; the search "
            "they belong to is fixed. Revert the edit to resume this study, or create a new "
            "study (spec.warmStart.fromStudies can seed it with this one's trials). Budget, "
            "parallelism, suspend, maxSuggestionCost, completionPolicy and trialTemplate "
            "may change.")
