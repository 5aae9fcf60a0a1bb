"""Loading many objects into the emulator at once, for scale tests and benchmarks.

Creating thousands of finished CarbsTrials through the HTTP API (a create, then a status
patch, each admitted against the CRD schema) takes minutes on a small machine; a test of
the operator at scale needs them to exist before it starts, as they would on a cluster
where a study has run for days. `load` stores them as the API server would have (uid,
creationTimestamp, generation, a resourceVersion each, one ADDED event each), without
admission: what is loaded must already be what the operator writes.
"""

from __future__ import annotations

import copy
import math
import random
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from carbs_operator.k8s.trials import timestamp, trial_manifest
from carbs_operator.models import StudySpec
from tests.support.apiserver import Emulator, utcnow


def load(emulator: Emulator, objects: Iterable[Mapping[str, Any]]) -> int:
    """Store `objects` as created (status kept as given); the number stored."""
    count = 0
    for body in objects:
        obj = copy.deepcopy(dict(body))
        kind = emulator.find_kind(obj["apiVersion"], obj["kind"])
        meta = obj.setdefault("metadata", {})
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=meta.get("creationTimestamp")
                    or utcnow(), generation=1)
        emulator._commit(kind, "ADDED", obj, None)  # the store's own write path
        count += 1
    return count


def finished_trials(study: Mapping[str, Any], spec: StudySpec, count: int, *,
                    seed: int = 0, start: float = 1.7e9) -> list[dict[str, Any]]:
    """`count` Succeeded CarbsTrials of `study` (the object as the API server returned it,
    uid included), at random points of its numeric parameters, with the objective of
    tests.k8s.conftest and its cost; as the operator would have written them."""
    from carbs_operator.search_signature import SIGNATURE_ANNOTATION, encode, signature_parts
    from tests.k8s.conftest import objective

    rng = random.Random(seed)  # noqa: S311 - test data
    stamp = {SIGNATURE_ANNOTATION: encode(signature_parts(spec))}
    trials = []
    for index in range(count):
        params: dict[str, Any] = {}
        for parameter in spec.parameters:
            low, high = float(parameter.min or 0.0), float(parameter.max or 1.0)
            if parameter.space.value == "log":
                value: float = 10 ** rng.uniform(math.log10(low), math.log10(high))
            else:
                value = rng.uniform(low, high)
            params[parameter.name] = round(value) if parameter.integer else value
        name = f"{study['metadata']['name']}-{index}"
        trial = trial_manifest(dict(study), name, index, params, f"seed-{index}", "random",
                               stamp, None)
        result = objective(params)
        began = start + 60.0 * index
        trial["status"] = {"phase": "Succeeded", "objective": result["loss"],
                           "cost": result["cost"], "metrics": result,
                           "startTime": timestamp(began), "completionTime": timestamp(began + 30),
                           "jobName": name}
        trials.append(trial)
    return trials
