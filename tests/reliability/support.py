"""What the reliability tests share: long mode, seeds, a real `carbs operator` process, the
invariants a finished study must satisfy on either runtime, and the figures they print.

The invariants, checked after the fact from the durable records alone:

- the study has exactly the trials its budget allows: indices 0..maxTrials-1, each once,
  none in flight, none lost (a lost trial would mean a workload vanished);
- every workload ran once: each Job was picked up once by the simulated kubelet (on the
  emulator), each trial process logged its start once (locally);
- no observation lost or counted twice: the status counts equal the trial phases, and the
  engine rebuilt by replay holds exactly one observation per finished trial (by suggestion
  id), and nothing outstanding.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from carbs_operator.k8s.trials import record_from_object
from carbs_operator.models import StudySpec, TrialPhase
from carbs_operator.replay import build_engine
from carbs_operator.study import TrialRecord
from carbs_operator.validation import parse_study
from tests.support.apiserver import Emulator
from tests.support.emulator import EXEMPT_HEADER, Cluster
from tests.support.kubelet import SimulatedKubelet

LONG = os.environ.get("CARBS_LONG_TESTS") == "1"
SEED_ENV = "CARBS_RELIABILITY_SEED"
GV = "carbs.dev/v1alpha1"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

long_only = pytest.mark.skipif(not LONG, reason="long mode only: set CARBS_LONG_TESTS=1")


@dataclass
class Seeded:
    """A random generator and the seed it started from (named in failure messages)."""

    seed: int
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - test timing, not cryptography

    def __str__(self) -> str:
        return f"{SEED_ENV}={self.seed}"


def print_figures(title: str, figures: Mapping[str, Any]) -> None:
    """One greppable line per campaign (`pytest -s` shows it; docs/reliability.md quotes it)."""
    print(f"RELIABILITY FIGURES {title}: {json.dumps(dict(figures), sort_keys=True)}")


# ------------------------------------------------------------------------ the emulator side


def operator_writes(emulator: Emulator) -> int:
    """Writes the API emulator received from anything but the tests' own helpers and the
    simulated kubelet (their requests carry the exempt header): the operator's writes."""
    exempt = EXEMPT_HEADER.lower()
    return sum(
        1 for request in emulator._requests
        if str(request.method).upper().rpartition(".")[2] in WRITES
        and exempt not in {str(key).lower() for key in request.headers}
    )


async def study_object(cluster: Cluster, name: str, namespace: str = "default") -> dict[str, Any]:
    return await cluster.get(GV, "carbsstudies", namespace, name)


async def study_phase(cluster: Cluster, name: str, namespace: str = "default") -> str | None:
    status: dict[str, Any] = (await study_object(cluster, name, namespace)).get("status") or {}
    return status.get("phase")


async def trial_objects(cluster: Cluster, name: str,
                        namespace: str = "default") -> list[dict[str, Any]]:
    found = await cluster.list(GV, "carbstrials", namespace,
                               label_selector=f"carbs.dev/study={name}")
    return sorted(found, key=lambda t: int(t["spec"]["index"]))


async def all_in_phase(cluster: Cluster, names: Iterable[str], phases: frozenset[str],
                       namespace: str = "default") -> bool:
    for name in names:
        if await study_phase(cluster, name, namespace) not in phases:
            return False
    return True


async def describe(cluster: Cluster, kubelet: SimulatedKubelet, names: Iterable[str],
                   namespace: str = "default") -> str:
    """The state of some studies, their trials and Jobs, for a failure message."""
    lines = []
    jobs = {job["metadata"]["name"]: job for job in await cluster.list("batch/v1", "jobs",
                                                                      namespace)}
    for name in names:
        lines.append(f"study {name}: {await study_phase(cluster, name, namespace)}")
        for trial in await trial_objects(cluster, name, namespace):
            trial_name = trial["metadata"]["name"]
            job = jobs.get(trial_name)
            job_conditions = [c["type"] for c in ((job or {}).get("status") or {}).get(
                "conditions") or []] if job else "no Job"
            phase = (trial.get("status") or {}).get("phase")
            lines.append(f"  {trial_name}: {phase}; Job {job_conditions}")
    main = kubelet._main
    lines.append(f"kubelet watching: {main is not None and not main.done()}; "
                 f"errors: {kubelet.errors}")
    return "\n".join(lines)


@dataclass(frozen=True)
class StudyFigures:
    """What one checked study contributed: its trials and how they ended."""

    trials: int
    succeeded: int
    failed: int


async def check_k8s_study(cluster: Cluster, kubelet: SimulatedKubelet, name: str,
                          namespace: str = "default", *, context: str = "") -> StudyFigures:
    """Every invariant of the module docstring for a finished study on the emulator."""
    obj = await study_object(cluster, name, namespace)
    spec = parse_study(obj).spec
    trials = await trial_objects(cluster, name, namespace)
    records = [record_from_object(t) for t in trials]
    where = f"study {namespace}/{name} ({context})"
    max_trials = spec.budget.max_trials
    assert [t["metadata"]["name"] for t in trials] == [f"{name}-{i}" for i in range(max_trials)], \
        f"{where}: trials {[t['metadata']['name'] for t in trials]}"
    assert [r.index for r in records] == list(range(max_trials)), where
    pattern = re.compile(rf"^{re.escape(namespace)}/{re.escape(name)}-(\d+)$")
    runs = Counter(job for job in kubelet.started_jobs if pattern.match(job))
    assert sorted(runs) == sorted(f"{namespace}/{name}-{i}" for i in range(max_trials)), \
        f"{where}: Jobs started {sorted(runs)}"
    assert set(runs.values()) == {1}, f"{where}: a Job ran twice: {runs}"
    status = obj.get("status") or {}
    assert status.get("phase") == "Succeeded", f"{where}: {status}"
    check_records(spec, records, status.get("trials") or {}, where)
    assert status.get("progress") == f"{max_trials}/{max_trials}", where
    return figures_of(records)


def figures_of(records: Sequence[TrialRecord]) -> StudyFigures:
    return StudyFigures(
        trials=len(records),
        succeeded=sum(r.phase == TrialPhase.SUCCEEDED for r in records),
        failed=sum(r.phase == TrialPhase.FAILED for r in records),
    )


def check_records(spec: StudySpec, records: Sequence[TrialRecord],
                  counts: Mapping[str, Any] | None, where: str) -> None:
    """Phases final, no trial lost, status counts == phases, replay == finished trials."""
    phases = Counter(r.phase for r in records)
    assert phases[TrialPhase.PENDING] == phases[TrialPhase.RUNNING] == 0, f"{where}: {phases}"
    finished = [r for r in records if r.phase in
                (TrialPhase.SUCCEEDED, TrialPhase.FAILED, TrialPhase.EARLY_STOPPED)]
    if counts is not None:
        expected = {
            "total": len(records), "pending": 0, "running": 0,
            "succeeded": phases[TrialPhase.SUCCEEDED], "failed": phases[TrialPhase.FAILED],
            "lost": phases[TrialPhase.LOST], "earlyStopped": phases[TrialPhase.EARLY_STOPPED],
        }
        assert dict(counts) == expected, f"{where}: status counts {counts} != {expected}"
    ids = [r.suggestion_id for r in records]
    assert None not in ids, f"{where}: a trial without its suggestion id"
    assert len(set(ids)) == len(ids), f"{where}: a suggestion used twice: {Counter(ids)}"
    engine = build_engine(spec, records, "cpu")
    observed = [o.suggestion_id for o in
                [*engine.success_observations, *engine.failure_observations]]
    assert len(observed) == len(finished), \
        f"{where}: replay holds {len(observed)} observations for {len(finished)} finished trials"
    assert sorted(map(str, observed)) == sorted(str(r.suggestion_id) for r in finished), where
    assert not engine.outstanding_suggestions, f"{where}: {engine.outstanding_suggestions}"
