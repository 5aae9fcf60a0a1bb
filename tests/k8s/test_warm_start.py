"""spec.warmStart.fromStudies on a cluster: a larger study starts from a cheap one's trials."""

from __future__ import annotations

from typing import Any

from tests.k8s.conftest import carbs_operator, get_study, objective, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kubelet import Result, SimulatedKubelet


def without_x(params: dict[str, float]) -> Result:
    return objective({"x": 0.3, **params})


async def _succeeded(cluster: Cluster, name: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        obj = await get_study(cluster, name)
        return obj if (obj.get("status") or {}).get("phase") == "Succeeded" else None

    return await cluster.wait_for(done, 90, what=f"{name} Succeeded")


async def test_a_larger_study_starts_from_the_cheap_ones_trials(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = without_x
    await cluster.create(study("small", budget={"maxTrials": 5, "maxFailedTrials": 2}))
    large = study("large", budget={"maxTrials": 2, "maxFailedTrials": 2},
                  warmStart={"fromStudies": ["small", "nosuch"]})
    large["spec"]["parameters"] = [p for p in large["spec"]["parameters"] if p["name"] != "x"]
    large["spec"]["parameters"][1]["max"] = 10000  # size: a wider range than the cheap one
    container = large["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["--lr=${params.lr}", "--size=${params.size}"]
    async with carbs_operator(cluster):
        await _succeeded(cluster, "small")
        await cluster.create(large)
        done = await _succeeded(cluster, "large")
    assert done["status"]["warmStart"] == {
        "trials": 5, "skippedTrials": 0, "missingStudies": ["nosuch"]}
    # Five observations already: past the random phase (numRandomSamples 4), and the
    # seeds count toward nothing of this study's own.
    trials = await trials_of(cluster, "large")
    assert [t["spec"]["suggestion"]["kind"] for t in trials] != ["random", "random"]
    assert "random" not in [t["spec"]["suggestion"]["kind"] for t in trials]
    assert done["status"]["progress"] == "2/2"
    assert done["status"]["trials"]["total"] == 2
