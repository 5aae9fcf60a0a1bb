"""Reading what a trial reported, and what it cost.

A result arrives as text from a file, a pod annotation or a termination message, written
by code we do not control. Whatever it holds, these functions either return clean finite
numbers or raise ResultError with a sentence fit for a trial's failureReason; they never
let another exception escape, because one bad trial must not stop the study.

Stdlib only at runtime: the SDK imports this module inside users' training processes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from carbs_operator.errors import InvalidInputError

if TYPE_CHECKING:
    from carbs_operator.models import StudySpec

MAX_RESULT_BYTES = 64 * 1024
# Kubernetes timestamps have one-second resolution, so a quick trial can measure 0 s; a
# zero cost would put log(cost) at -inf in the engine.
MIN_MEASURED_COST = 1e-3

_JSON_TYPES = {str: "a string", bool: "a boolean", type(None): "null", list: "an array",
               dict: "an object"}


class ResultError(InvalidInputError, ValueError):
    """A trial's result is unusable; the message says why, naming the metric."""


def parse_result(text: str) -> dict[str, float]:
    """A result payload (a JSON object of metric -> number) as finite floats."""
    if not isinstance(text, str):
        raise ResultError(f"result must be text, not {type(text).__name__}")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_RESULT_BYTES:
        raise ResultError(f"result payload too large ({size} bytes > {MAX_RESULT_BYTES})")
    if not text.strip():
        raise ResultError("result is empty: the trial reported nothing")
    try:
        data = json.loads(text, parse_constant=float, object_pairs_hook=_no_duplicates)
    except ResultError:
        raise
    except RecursionError:
        raise ResultError("result is not JSON: nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError and bad numbers
        raise ResultError(f"result is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ResultError(f"result must be a JSON object of metrics, not {_kind(data)}")
    return {name: _finite(name, value) for name, value in data.items()}


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ResultError(f"metric {key!r} appears twice in the result")
        out[key] = value
    return out


def _kind(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ResultError(f"metric {name!r} is not a number (got {_kind(value)})")
    try:
        number = float(value)
    except OverflowError:
        raise ResultError(f"metric {name!r} is not finite (too large)") from None
    if not math.isfinite(number):
        raise ResultError(f"metric {name!r} is not finite (got {number})")
    return number


def extract_objective_and_cost(
    metrics: Mapping[str, float],
    spec: StudySpec,
    runtime_seconds: float,
    gpu_count: float,
    gpu_seconds: float | None = None,
) -> tuple[float, float]:
    """(objective, cost) of a finished trial, per the study's objective and cost settings.

    Cost is the reported metric named by cost.metric (finite, > 0), or measured: wall time
    for runtimeSeconds, wall time x GPUs for gpuSeconds (or `gpu_seconds`, measured pod by
    pod, for a multi-pod trial).
    """
    objective_name = spec.objective.metric
    objective = _required(metrics, objective_name, "objective")
    cost_metric = spec.cost.metric
    if cost_metric is not None:
        cost = _required(metrics, cost_metric, "cost")
        if cost <= 0:
            raise ResultError(f"cost metric {cost_metric!r} must be > 0 (got {cost})")
        return objective, cost
    if not math.isfinite(runtime_seconds) or runtime_seconds < 0:
        raise ResultError(f"runtime must be a finite number >= 0 (got {runtime_seconds})")
    runtime = max(runtime_seconds, MIN_MEASURED_COST)
    source = spec.cost.source
    if source is not None and source.value == "gpuSeconds" and gpu_seconds is not None:
        if not math.isfinite(gpu_seconds) or gpu_seconds <= 0:
            raise ResultError("cost source gpuSeconds needs GPUs, but none of the trial's pods "
                              "requested one (set a GPU limit such as nvidia.com/gpu)")
        return objective, max(gpu_seconds, MIN_MEASURED_COST)
    if source is not None and source.value == "gpuSeconds":
        if not math.isfinite(gpu_count) or gpu_count <= 0:
            raise ResultError(
                f"cost source gpuSeconds needs GPUs, but the trial requested {gpu_count} "
                "(set a GPU limit such as nvidia.com/gpu on the first container)"
            )
        return objective, runtime * gpu_count
    return objective, runtime


def _required(metrics: Mapping[str, float], name: str, role: str) -> float:
    if name not in metrics:
        reported = ", ".join(sorted(metrics)) or "nothing"
        raise ResultError(f"{role} metric {name!r} is missing (the result has: {reported})")
    return _finite(name, metrics[name])
