"""What the operator writes stays bounded however long a study runs.

A CarbsStudy's status is rewritten on every change; if it grew with the number of trials, a
long study would slow every reconcile and, past etcd's 1.5 MiB request limit, could no
longer be written at all. The status keeps counts, the best trial, at most 50 frontier
points and at most one scaling law per parameter: its size must not depend on the trial
count. The same for a CarbsTrial: its status holds at most a 64 KiB result and a cut
failure reason.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from carbs_operator.k8s.trials import JobState, status_for
from carbs_operator.models import MAX_FRONTIER_POINTS, MAX_PARAMETERS, StudySpec, TrialPhase
from carbs_operator.replay import build_engine
from carbs_operator.results import MAX_RESULT_BYTES
from carbs_operator.status import study_status
from carbs_operator.study import TrialRecord, conclude_trial
from carbs_operator.validation import parse_study
from tests.k8s.conftest import study
from tests.reliability.support import print_figures

ETCD_LIMIT = 1536 * 1024  # etcd's default --max-request-bytes, what one object may weigh
STATUS_LIMIT = 256 * 1024
TRIALS = 5_000
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def records(spec: StudySpec, count: int, seed: int = 0) -> list[TrialRecord]:
    """`count` trials of every phase; the successes trace a long frontier (each costlier one
    is better), the worst case for the frontier's length."""
    rng = random.Random(seed)  # noqa: S311 - test data
    out = []
    for index in range(count):
        params = {p.name: rng.uniform(p.min, p.max) if p.space != "log" else
                  p.min * (p.max / p.min) ** rng.random() for p in spec.parameters}
        for p in spec.parameters:
            if p.integer:
                params[p.name] = float(round(params[p.name]))
        draw = rng.random()
        base = TrialRecord(index=index, params=params, phase=TrialPhase.RUNNING,
                           suggestion_id=f"s-{index}", created_at=1e9 + index,
                           started_at=1e9 + index)
        if draw < 0.8:
            out.append(replace(base, phase=TrialPhase.SUCCEEDED, objective=1.0 / (index + 1),
                               cost=float(index + 1), finished_at=1e9 + index + 1,
                               metrics={"loss": 1.0 / (index + 1), "cost": index + 1.0}))
        elif draw < 0.9:
            out.append(replace(base, phase=TrialPhase.FAILED, failure_reason="x" * 4096,
                               finished_at=1e9 + index + 1))
        elif draw < 0.98:
            out.append(replace(base, phase=TrialPhase.LOST))
        else:
            out.append(base)
    return out


def status_json(spec: StudySpec, trials: list[TrialRecord]) -> tuple[dict[str, Any], float]:
    began = time.perf_counter()
    laws = build_engine(spec, trials, "cpu").scaling_laws()
    status = study_status(spec, trials, laws, 1, None, NOW, study="quad")
    seconds = time.perf_counter() - began
    return status.model_dump(mode="json", by_alias=True, exclude_none=True), seconds


def size(obj: Any) -> int:
    return len(json.dumps(obj, separators=(",", ":")).encode())


def widest_study() -> dict[str, Any]:
    """The largest spec the schema allows where the status repeats it: 64 parameters with
    63-character names."""
    body = study(budget={"maxTrials": 100_000, "maxFailedTrials": 100_000})
    body["spec"]["parameters"] = [
        {"name": f"p{i:02d}" + "x" * 60, "space": "linear", "min": 0.0, "max": 1.0}
        for i in range(MAX_PARAMETERS)
    ]
    container = body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = []
    return body


def test_the_status_of_5000_trials_is_small_and_the_same_size_as_of_500() -> None:
    spec = parse_study(study(budget={"maxTrials": 100_000, "maxFailedTrials": 100_000})).spec
    small, _ = status_json(spec, records(spec, 500))
    large, seconds = status_json(spec, records(spec, TRIALS))
    assert large["trials"]["total"] == TRIALS
    assert len(large["paretoFrontier"]) == MAX_FRONTIER_POINTS
    assert len(large["scalingLaws"]) <= len(spec.parameters)
    assert size(large) < STATUS_LIMIT
    assert size(large) < 1.2 * size(small)  # bounded: it does not grow with the trials
    print_figures("status size", {"trials": TRIALS, "status_bytes": size(large),
                                  "status_bytes_at_500": size(small),
                                  "replay_and_status_seconds": round(seconds, 2)})


def test_the_widest_study_object_stays_under_the_etcd_limit() -> None:
    body = widest_study()
    spec = parse_study(body).spec
    status, _ = status_json(spec, records(spec, TRIALS))
    assert len(status["paretoFrontier"]) == MAX_FRONTIER_POINTS
    whole = size({**body, "status": status})
    assert whole < ETCD_LIMIT
    print_figures("widest study object", {"parameters": MAX_PARAMETERS, "trials": TRIALS,
                                          "object_bytes": whole, "status_bytes": size(status)})


def test_a_trial_status_is_bounded_by_the_result_limit() -> None:
    spec = parse_study(study()).spec
    # A result just under the limit, made of as many metrics as fit.
    metrics = {"loss": 0.5, "cost": 2.0}
    index = 0
    while size(metrics) < MAX_RESULT_BYTES - 64:
        metrics[f"metric_{index:06d}"] = 1.0 / (index + 1)
        index += 1
    text = json.dumps(metrics, separators=(",", ":"))
    outcome = conclude_trial(spec, workload_failure=None, result_text=text,
                             runtime_seconds=10.0, gpus=0)
    assert outcome.phase == TrialPhase.SUCCEEDED, outcome.failure_reason
    state = JobState(True, True, None, text, 10.0, 1e9, 1e9 + 10)
    assert size(status_for(outcome, state)) < 2 * MAX_RESULT_BYTES
    failure = conclude_trial(spec, workload_failure="x" * 1_000_000, result_text=None,
                             runtime_seconds=10.0, gpus=0)
    assert size(status_for(failure, state)) < 8 * 1024  # the reason is cut at 4096 characters
