"""Reported problems 3 and 4: the operator said nothing, Events came from `kopf`, and started
as the README says (`carbs operator -n NS`) on a cluster without kopf's peering CRD it
waited forever in silence.

The operator runs here as a real process, started exactly as a user would, against an
emulator that does not serve kopf's peering resources.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from carbs_operator.k8s.main import operator
from carbs_operator.k8s.peering import PeeringError, PeeringFacts, choose
from tests.k8s.conftest import get_study, objective, study
from tests.support.emulator import Cluster, start_cluster
from tests.support.kubelet import SimulatedKubelet
from tests.support.operator_process import CarbsOperator


@pytest_asyncio.fixture
async def bare_cluster() -> AsyncIterator[Cluster]:
    """A cluster without kopf's peering CRDs (as most are)."""
    async with start_cluster(peerings=False) as running:
        yield running


async def _phase(cluster: Cluster, phase: str, timeout: float) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        obj = await get_study(cluster)
        return obj if (obj.get("status") or {}).get("phase") == phase else None

    return await cluster.wait_for(reached, timeout, what=f"study {phase}")


async def test_started_as_the_readme_says_it_runs_and_logs_each_decision(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = bare_cluster
    await cluster.create(study(budget={"maxTrials": 3, "maxFailedTrials": 1}))
    async with (SimulatedKubelet(cluster, objective),
                CarbsOperator(cluster, tmp_path, ["-n", "default"]) as process):
        await _phase(cluster, "Succeeded", 120)
        await cluster.wait_for(lambda: "completed" in process.output(), 10,
                               what="the completion line")
    lines = process.output().splitlines()
    # kopf's per-event "Handler ... succeeded" lines would drown the decisions.
    assert not [line for line in lines if "Handler 'register" in line]

    def one(*words: str) -> list[str]:
        return [line for line in lines if all(word in line for word in words)]

    # Started with no flag, replicas share the studies by shard Leases (no kopf peering).
    assert one("sharding: studies split into 16 shards", "no kopf peering")
    assert one("holds shards [", "of 16")
    assert one("[INFO", "study default/quad: accepted")
    assert one("study default/quad: suggested", "trial(s) in")
    for index in range(3):
        assert one(f"study default/quad trial quad-{index}: created", '"lr"')
        assert one(f"study default/quad trial quad-{index}: concluded Succeeded", "objective")
    assert one("study default/quad: completed", "3/3")
    events = await cluster.list("v1", "events", "default")
    ours = [e for e in events if e["involvedObject"].get("name") == "quad"]
    assert {e["reason"] for e in ours} >= {"TrialCreated", "TrialSucceeded", "StudySucceeded"}
    assert {e["reportingComponent"] for e in ours} == {"carbs-operator"}
    assert {e["source"]["component"] for e in ours} == {"carbs-operator"}


async def test_json_logs_carry_namespace_study_and_trial(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = bare_cluster
    await cluster.create(study(budget={"maxTrials": 2, "maxFailedTrials": 1}, parallelism=2))
    args = ["-n", "default", "--log-format", "json"]
    async with CarbsOperator(cluster, tmp_path, args) as process:
        async def created() -> list[dict[str, Any]] | None:
            records = [json.loads(line) for line in process.output().splitlines()
                       if line.startswith("{")]
            found = [r for r in records if r.get("trial") == "quad-1"
                     and "created" in r.get("message", "")]
            return records if found else None

        records = await cluster.wait_for(created, 60, what="a JSON line for trial quad-1")
    created_line = next(r for r in records if r.get("trial") == "quad-1")
    assert created_line["namespace"] == "default"
    assert created_line["study"] == "quad"
    assert created_line["severity"] == "info"
    assert any("sharding: studies split" in r["message"] for r in records)
    assert all(line.startswith("{") for line in process.output().splitlines() if line.strip())


async def test_quiet_logs_warnings_only(bare_cluster: Cluster, tmp_path: Path) -> None:
    cluster = bare_cluster
    bad = study()
    bad["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"] = [
        "--lr=${params.nope}"]
    await cluster.create(bad)
    async with CarbsOperator(cluster, tmp_path, ["-n", "default", "--quiet"]) as process:
        await _phase(cluster, "Invalid", 60)
        await cluster.wait_for(lambda: "invalid (InvalidSpec)" in process.output(), 10,
                               what="the warning line")
    out = process.output()
    assert "carbs_operator       [WARNING ] study default/quad: invalid (InvalidSpec)" in out
    assert "[INFO" not in out


async def test_mandatory_peering_that_is_missing_is_an_error(
    bare_cluster: Cluster, tmp_path: Path
) -> None:
    async with CarbsOperator(bare_cluster, tmp_path,
                             ["-n", "default", "--peering", "carbs-operator"]) as process:
        await bare_cluster.wait_for(lambda: process.exit_code is not None, 60,
                                    what="carbs operator exits")
        code = process.exit_code
    assert code == 1
    assert "error: peering is mandatory (--peering carbs-operator), but the API server " \
           "does not serve kopfpeerings.kopf.dev" in process.output()


async def test_a_missing_peering_object_is_an_error_when_mandatory(cluster: Cluster) -> None:
    """The CRD is served (the default emulator) but nobody created the object."""
    with pytest.raises(PeeringError, match="named 'carbs-operator' does not exist"):
        await operator(api_client=cluster.api_client(), namespaces=["default"],
                       peering_name="carbs-operator")


@pytest.mark.parametrize(("standalone", "requested", "facts", "peering"), [
    (True, None, None, None),
    (False, None, PeeringFacts(False, None), None),
    (False, None, PeeringFacts(True, False), None),
    (False, None, PeeringFacts(True, True), "carbs-operator"),
    (False, None, PeeringFacts(True, None), "carbs-operator"),  # globs: cannot tell
    (False, "team", PeeringFacts(True, True), "team"),
])
def test_peering_choice(standalone: bool, requested: str | None, facts: PeeringFacts | None,
                        peering: str | None) -> None:
    choice = choose(standalone=standalone, requested=requested, facts=facts,
                    clusterwide=False, namespaces=["default"])
    assert choice.name == peering
    assert choice.standalone == (peering is None)
    assert choice.message
