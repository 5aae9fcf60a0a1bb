"""A study with every parameter kind on the emulator: the real kopf operator, the CRD's
admission (schema and CEL) on every write, the simulated kubelet running each Job with the
params it finds in the Pod's CARBS_PARAMS."""

from __future__ import annotations

import copy
from typing import Any

from tests.k8s.conftest import carbs_operator, get_study, study, trials_of
from tests.local.kinds_trial import CHOICES, loss, problems
from tests.operator.manifest_cases import KINDS
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet

TRIALS = 8


def checked_loss(params: dict[str, Any]) -> Any:
    """The trial's own check, as a failure the operator records, then its result."""
    found = problems(params)
    return RuntimeError("; ".join(found)) if found else loss(params)


async def test_every_kind_runs_on_the_emulator(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = checked_loss
    body = study("kinds", parameters=copy.deepcopy(KINDS), budget={"maxTrials": TRIALS},
                 carbs={"seed": 5, "numRandomSamples": 3})
    container = body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--optimizer=${params.optimizer}", "--batch=${params.batch}"]
    await cluster.create(body)

    async def finished() -> dict[str, Any] | None:
        obj = await get_study(cluster, "kinds")
        return obj if (obj.get("status") or {}).get("phase") == "Succeeded" else None

    async with carbs_operator(cluster):
        done = await cluster.wait_for(finished, 120.0, what="study kinds Succeeded")

    trials = await trials_of(cluster, "kinds")
    assert len(trials) == TRIALS
    failures = [t["status"].get("failureReason") for t in trials
                if t["status"]["phase"] != "Succeeded"]
    assert failures == []  # every Pod got values of its parameter's kind
    for trial in trials:  # CarbsTrial records keep choices as strings, ordinals typed
        params = trial["spec"]["params"]
        assert params["optimizer"] in CHOICES["optimizer"]
        assert isinstance(params["batch"], int)
        assert isinstance(params["size"], str)
    jobs = {j["metadata"]["name"]: j for j in await cluster.list("batch/v1", "jobs", "default")}
    for trial in trials:
        container = jobs[trial["metadata"]["name"]]["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["CARBS_PARAM_OPTIMIZER"] == trial["spec"]["params"]["optimizer"]
        assert env["CARBS_PARAM_SIZE"] == trial["spec"]["params"]["size"]
        assert container["args"] == [f"--optimizer={env['CARBS_PARAM_OPTIMIZER']}",
                                     f"--batch={trial['spec']['params']['batch']}"]
    status = done["status"]
    assert status["bestTrial"]["params"]["optimizer"] in CHOICES["optimizer"]
    assert all(isinstance(p["params"]["size"], str) for p in status["paretoFrontier"])
    laws = {law["parameter"]: law for law in status["scalingLaws"]}
    assert laws["optimizer"]["space"] == "categorical"
    assert laws["optimizer"]["bands"]
    assert "slope" not in laws["optimizer"]
    assert {b["value"] for b in laws["optimizer"]["bands"]} <= set(CHOICES["optimizer"])
    assert laws["batch"]["bands"]
