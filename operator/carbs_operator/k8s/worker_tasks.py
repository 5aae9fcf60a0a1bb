"""What the operator's worker processes compute: plain data in, plain data out.

Each function takes one JSON-able payload (the study as the API server holds it, its trial
records as `records.record_to_dict` writes them) and returns a JSON-able answer, so nothing
of ours is pickled across the pool beyond dicts, lists, strings and numbers. A worker keeps
nothing that matters between calls: the engine is rebuilt from the records by replay, as
before, so a worker that dies mid-call loses nothing the retry does not recompute.

- `derived_view`: the study's status (laws, prediction, conditions) and its metric values,
  with `scaling_laws` and `study_status` called as they are (black boxes);
- `suggest`: the next `count` suggestions of a study.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from carbs_operator.k8s.records import record_from_dict
from carbs_operator.metrics import StudyMetrics
from carbs_operator.models import CarbsStudy, StudySpec, StudyStatus
from carbs_operator.replay import build_engine
from carbs_operator.study_view import build_view
from carbs_operator.validation import parse_study

#: Parsed specs by their JSON, so the metrics' frontier cache (keyed by the spec object)
#: holds across calls for the same study in this worker.
_SPECS: OrderedDict[str, StudySpec] = OrderedDict()
_SPEC_CACHE = 256
_METRICS: StudyMetrics | None = None


def initialize(operator_pid: int | None = None) -> None:
    """Pool initializer: one torch thread per worker (the pool is sized to the CPUs; more
    threads per worker would oversubscribe them), the heavy imports done before the first
    call rather than during it, and a watch on the operator's process.

    A worker waits for work on a queue whose write end it holds itself, so it would never
    notice an operator killed with SIGKILL, and the fork server would stay for it: both
    would outlive the operator forever. The watch ends the worker once the operator is gone.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    if operator_pid is not None:
        threading.Thread(target=_exit_with, args=(operator_pid,), daemon=True,
                         name="carbs-operator-watch").start()


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _exit_with(pid: int, interval: float = 1.0) -> None:
    while _alive(pid):
        time.sleep(interval)
    os._exit(0)


def ping(payload: dict[str, Any]) -> dict[str, Any]:
    """Nothing: `WorkerPool.warm` starts the workers with it."""
    return {"pid": os.getpid()}


def _spec(body: dict[str, Any]) -> StudySpec:
    text = json.dumps(body, sort_keys=True)
    found = _SPECS.get(text)
    if found is None:
        study: CarbsStudy = parse_study(body)
        found = study.spec
        _SPECS[text] = found
        if len(_SPECS) > _SPEC_CACHE:
            _SPECS.popitem(last=False)
    else:
        _SPECS.move_to_end(text)
    return found


def _metrics() -> StudyMetrics:
    global _METRICS
    if _METRICS is None:
        _METRICS = StudyMetrics(CollectorRegistry(), version="worker")
    return _METRICS


def metric_values(metrics: StudyMetrics, namespace: str, study: str) -> dict[str, Any]:
    """The series of one study in `metrics`, by attribute name: gauges as
    [[label values...], value] rows, counters and histograms as the label sets that exist
    (update_study only creates those, it counts nothing)."""
    out: dict[str, Any] = {}
    for attr, metric in vars(metrics).items():
        if not isinstance(metric, Gauge | Counter | Histogram):
            continue
        rows: dict[tuple[str, ...], float | None] = {}
        for family in metric.collect():
            for sample in family.samples:
                labels = {k: v for k, v in sample.labels.items() if k != "le"}
                if labels.get("namespace") != namespace or labels.get("study") != study:
                    continue
                values = tuple(labels.values())
                if isinstance(metric, Gauge):
                    rows[values] = float(sample.value)
                elif sample.name.endswith(("_total", "_count")):
                    rows[values] = None
        out[attr] = [[list(k), v] for k, v in rows.items()]
    return out


def derived_view(payload: dict[str, Any]) -> dict[str, Any]:
    """{"status": the study's status as JSON, "metrics": metric_values, "seconds": time}."""
    began = time.perf_counter()
    spec = _spec(payload["body"])
    records = [record_from_dict(d) for d in payload["trials"]]
    previous = StudyStatus.model_validate(payload["previous"]) if payload.get("previous") \
        else None
    # The one computation of a study's view that `carbs frontier` and the UI read too.
    view = build_view(spec, records, name=payload["study"], namespace=payload["namespace"],
                      previous=previous, generation=payload.get("generation"),
                      now=datetime.fromisoformat(payload["now"]))
    status = view.status
    metrics: dict[str, Any] = {}
    if payload.get("metrics"):
        registry = _metrics()
        registry.update_study(payload["namespace"], payload["study"], spec, records,
                              laws=view.laws)
        metrics = metric_values(registry, payload["namespace"], payload["study"])
        registry.remove_study(payload["namespace"], payload["study"])
    return {"status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
            "metrics": metrics, "seconds": time.perf_counter() - began}


def _plain(value: Any) -> Any:
    """A JSON-able copy of a scalar (numbers as float or int, the rest dropped as None)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def suggest(payload: dict[str, Any]) -> dict[str, Any]:
    """{"outputs": [{"suggestion", "log"}...], "fit_state": the GP warm start for the next
    call, "seconds": the suggest time (the replay not included)}."""
    spec = _spec(payload["body"])
    records = [record_from_dict(d) for d in payload["trials"]]
    engine = build_engine(spec, records, payload.get("device", "cpu"))
    engine.gp_fit_state = payload.get("fit_state")
    began = time.perf_counter()
    outputs = engine.suggest_batch(int(payload["count"]))
    seconds = time.perf_counter() - began
    return {
        "outputs": [{
            "suggestion": {k: v if isinstance(v, str) else _plain(v)
                           for k, v in output.suggestion.items()},
            "log": {k: _plain(v) for k, v in output.log.items()
                    if _plain(v) is not None},
        } for output in outputs],
        "fit_state": engine.gp_fit_state,
        "seconds": seconds,
    }
