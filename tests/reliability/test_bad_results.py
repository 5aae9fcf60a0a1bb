"""Bad trial results fail only their own trial, with a reason; the study goes on.

Three levels: `conclude_trial` (the shared rule) under generated payloads; `carbs run` end
to end with a trial script that writes such payloads to its result file; the operator on
the emulator with the simulated kubelet publishing them as the pod's result annotation and
termination message.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from carbs_operator.k8s.trials import record_from_object
from carbs_operator.local.store import TrialStore
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.results import MAX_RESULT_BYTES
from carbs_operator.study import conclude_trial
from carbs_operator.validation import load_study, parse_study
from tests.k8s.conftest import carbs_operator, study
from tests.reliability.support import all_in_phase, check_k8s_study, check_records, trial_objects
from tests.support.builders import quad_manifest
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet

SPEC = parse_study(study()).spec  # objective `loss` (minimize), cost metric `cost`
MEASURED = parse_study(study(cost={"source": "runtimeSeconds"})).spec
ONE_MB = 1024 * 1024


def _json(value: Any) -> str:
    return json.dumps(value)


# (name, payload, expected failure reason prefix or None for success), shared by the two
# end-to-end tests. The local one writes the bytes; the emulator one sends the text.
PAYLOADS: list[tuple[str, bytes, str | None]] = [
    ("good", b'{"loss": 0.5, "cost": 2}', None),
    ("not JSON", b"loss=0.5 cost=2", "malformed result: result is not JSON"),
    ("NaN objective", b'{"loss": NaN, "cost": 1}', "malformed result: metric 'loss' is not finite"),
    ("string objective", b'{"loss": "0.5", "cost": 1}',
     "malformed result: metric 'loss' is not a number"),
    ("negative cost", b'{"loss": 0.5, "cost": -3}',
     "unusable result: cost metric 'cost' must be > 0"),
    ("zero cost", b'{"loss": 0.5, "cost": 0}', "unusable result: cost metric 'cost' must be > 0"),
    ("1 MB payload", b'{"loss": 0.5, "cost": 1, "pad": "' + b"x" * ONE_MB + b'"}',
     "malformed result: result payload too large"),
    ("missing objective", b'{"cost": 1, "accuracy": 0.9}',
     "unusable result: objective metric 'loss' is missing"),
    ("JSON array", b"[0.5, 1]", "malformed result: result must be a JSON object"),
    ("empty", b"", "no result"),
    ("good again", b'{"loss": 0.25, "cost": 4}', None),
]
# Local only: bytes a pod annotation cannot carry.
LOCAL_ONLY: list[tuple[str, bytes, str | None]] = [
    ("result not UTF-8", b'\xff\xfe{"loss": 0.5, "cost": 1}',
     "malformed result: result is not JSON"),
    ("output not UTF-8, exit 1", b"EXIT 1 PRINTING:\xff\xfe\x80 CUDA error\n",
     "exited with code 1:"),
]


# ---------------------------------------------------------------------- conclude_trial

def _conclude(spec: StudySpec, text: str | None, runtime: float = 3.0) -> Any:
    return conclude_trial(spec, workload_failure=None, result_text=text, runtime_seconds=runtime,
                          gpus=0)


_finite = st.floats(allow_nan=False, allow_infinity=False)
_metric_names = st.sampled_from(["loss", "cost", "acc", "tokens", "loss ", "Loss"])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=8,
)

# Families of bad results with the start of the reason each must produce.
BAD_FAMILIES: dict[str, tuple[st.SearchStrategy[str], str]] = {
    "not JSON": (st.text(min_size=1).filter(lambda t: t.strip() != "" and not _is_json(t)),
                 "malformed result"),
    "not an object": (_json_values.filter(lambda v: not isinstance(v, dict)).map(
        lambda v: json.dumps(v)), "malformed result: result must be a JSON object"),
    "non-finite": (st.tuples(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-1e999"]),
                             _finite).map(lambda p: f'{{"loss": {p[0]}, "cost": {p[1]}}}'),
                   "malformed result: metric 'loss' is not finite"),
    "huge integer": (st.integers(min_value=10**309, max_value=10**400).map(
        lambda n: f'{{"loss": {n}, "cost": 1}}'), "malformed result: metric 'loss' is not finite"),
    "not a number": (st.one_of(st.text(max_size=10), st.booleans(), st.none(),
                               st.lists(_finite, max_size=2)).map(
        lambda v: _json({"loss": v, "cost": 1})),
        "malformed result: metric 'loss' is not a number"),
    "cost <= 0": (st.tuples(_finite, st.floats(max_value=0, allow_nan=False,
                                                allow_infinity=False)).map(
        lambda p: _json({"loss": p[0], "cost": p[1]})),
        "unusable result: cost metric 'cost' must be > 0"),
    "missing objective": (st.dictionaries(_metric_names.filter(lambda n: n != "loss"), _finite,
                                          max_size=4).map(_json),
                          "unusable result: objective metric 'loss' is missing"),
    "too large": (st.integers(MAX_RESULT_BYTES, 2 * ONE_MB).map(
        lambda n: '{"loss": 1, "cost": 1, "pad": "' + "x" * n + '"}'),
        "malformed result: result payload too large"),
    "duplicate metric": (_finite.map(lambda x: f'{{"loss": {x}, "loss": {x}, "cost": 1}}'),
                         "malformed result: metric 'loss' appears twice"),
    "nested too deeply": (st.integers(5_000, 200_000).map(lambda n: "[" * n + "]" * n),
                          "malformed result"),
    "blank": (st.text(alphabet=" \t\r\n", max_size=5), "no result"),
}


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("family", list(BAD_FAMILIES))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_bad_result_fails_its_trial_with_a_reason(family: str, data: st.DataObject) -> None:
    strategy, reason = BAD_FAMILIES[family]
    text = data.draw(strategy)
    outcome = _conclude(SPEC, text)
    assert outcome.phase == TrialPhase.FAILED
    assert outcome.objective is None
    assert (outcome.failure_reason or "").startswith(reason), outcome.failure_reason
    assert len(outcome.failure_reason or "") < 2000  # a reason, not an echo of the payload


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(st.none(), st.text(), _json_values.map(json.dumps),
                      st.dictionaries(_metric_names, st.one_of(_finite, _json_values),
                                      max_size=4).map(json.dumps)),
       runtime=st.floats(), measured=st.booleans())
def test_conclude_never_raises_and_succeeds_only_with_clean_numbers(
    text: str | None, runtime: float, measured: bool
) -> None:
    spec = MEASURED if measured else SPEC
    outcome = _conclude(spec, text, runtime)
    if outcome.phase == TrialPhase.SUCCEEDED:
        assert outcome.failure_reason is None
        assert outcome.objective is not None
        assert math.isfinite(outcome.objective)
        assert outcome.cost is not None
        assert math.isfinite(outcome.cost)
        assert outcome.cost > 0
        assert all(math.isfinite(v) for v in outcome.metrics.values())
    else:
        assert outcome.phase == TrialPhase.FAILED
        assert outcome.failure_reason
    if outcome.cost is not None:  # a measured cost on a failure is still a real number
        assert math.isfinite(outcome.cost)
        assert outcome.cost > 0


# ---------------------------------------------------------------------- carbs run, end to end

TRIAL_SCRIPT = '''
"""Writes the payload chosen by the trial's index to its result file, byte for byte."""
import base64, json, os, pathlib, sys
index = int(os.environ["CARBS_TRIAL"].rpartition("-")[2])
payloads = json.loads(pathlib.Path("payloads.json").read_text())
data = base64.b64decode(payloads[index % len(payloads)])
if data.startswith(b"EXIT 1 PRINTING:"):
    sys.stdout.buffer.write(data.partition(b":")[2])
    sys.exit(1)
pathlib.Path(os.environ["CARBS_RESULT_FILE"]).write_bytes(data)
'''


def test_carbs_run_fails_only_the_trials_with_bad_results(tmp_path: Path) -> None:
    payloads = [*PAYLOADS, *LOCAL_ONLY]
    (tmp_path / "payloads.json").write_text(json.dumps(
        [base64.b64encode(data).decode() for _, data, _ in payloads]))
    (tmp_path / "bad_result_trial.py").write_text(TRIAL_SCRIPT)
    manifest = quad_manifest(name="bad", cost={"metric": "cost"},
                              budget={"maxTrials": len(payloads),
                                      "maxFailedTrials": len(payloads)})
    container = manifest["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container.update(command=["python", "bad_result_trial.py"], args=[])
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(manifest))
    run = subprocess.run(
        [sys.executable, "-m", "carbs_operator.cli", "run", str(path), "--state-dir",
         str(tmp_path / "state"), "--device", "cpu"],
        capture_output=True, timeout=240, check=False, env={**os.environ},
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    with TrialStore(tmp_path / "state" / "bad.db") as store:
        records = store.trials()
    assert len(records) == len(payloads)
    for record in records:
        name, _, reason = payloads[record.index]
        if reason is None:
            assert record.phase == TrialPhase.SUCCEEDED, (name, record.failure_reason)
        else:
            assert record.phase == TrialPhase.FAILED, name
            assert (record.failure_reason or "").startswith(reason), (name, record.failure_reason)
    check_records(load_study(path).spec, records, None, "carbs run with bad results")


# ---------------------------------------------------------------------- the operator

def _key(params: dict[str, Any]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((name, float(value)) for name, value in params.items()))


def _publishing(texts: list[str]) -> tuple[Callable[[dict[str, float]], str],
                                           dict[tuple[tuple[str, float], ...], int]]:
    """A kubelet objective that publishes the payloads in turn, remembering which went where."""
    given_to: dict[tuple[tuple[str, float], ...], int] = {}

    def publish(params: dict[str, float]) -> str:
        number = given_to.setdefault(_key(params), len(given_to))
        return texts[number % len(texts)]

    return publish, given_to


async def test_the_operator_fails_only_the_trials_with_bad_results(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    # The emulator's HTTP server takes request bodies up to 1 MiB (a real API server refuses
    # annotations over 256 KiB in all): the large payload is 200 KB here, still over the
    # 64 KiB a result may have.
    texts = [data.decode() if len(data) < ONE_MB else
             '{"loss": 0.5, "cost": 1, "pad": "' + "x" * 200_000 + '"}'
             for _, data, _ in PAYLOADS]
    kubelet.objective, given_to = _publishing(texts)
    count = len(PAYLOADS)
    await cluster.create(study("bad", budget={"maxTrials": count, "maxFailedTrials": count}))
    async with carbs_operator(cluster):
        await cluster.wait_for(lambda: all_in_phase(cluster, ["bad"], frozenset({"Succeeded"})),
                               60, what="the study completes")
    await check_k8s_study(cluster, kubelet, "bad")
    trials = await trial_objects(cluster, "bad")
    assert len(given_to) == count
    for trial in trials:
        record = record_from_object(trial)
        name, _, reason = PAYLOADS[given_to[_key(dict(record.params))] % count]
        if reason is None:
            assert record.phase == TrialPhase.SUCCEEDED, (name, record.failure_reason)
        else:
            assert record.phase == TrialPhase.FAILED, name
            assert (record.failure_reason or "").startswith(reason), (name, record.failure_reason)
