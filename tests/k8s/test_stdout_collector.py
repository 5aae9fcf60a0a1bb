"""spec.metricsCollector StdOut on the emulator: the real operator reads each trial's pod log.

The simulated kubelet runs the container's real command (tests/local/printing_trial.py,
which prints and never imports the SDK) and serves its output at
GET /api/v1/namespaces/NS/pods/NAME/log, as the API server does.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

from carbs_operator.k8s.api import KubeApi
from tests.k8s.conftest import carbs_operator, get_study, study, trials_of
from tests.k8s.test_operator_flow import wait_phase
from tests.local.conftest import HERE
from tests.support.emulator import Cluster
from tests.support.kubelet import Output, SimulatedKubelet


def printing_study(name: str, collector: dict[str, Any], *extra: str,
                   max_trials: int = 4) -> dict[str, Any]:
    body = study(name, metricsCollector=collector, budget={"maxTrials": max_trials},
                 cost={"metric": "flops"})
    container = body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]
    container["command"] = ["python", "printing_trial.py"]
    container["args"] = [*container["args"], *extra]
    return body


async def test_a_printing_script_runs_a_study_to_its_budget(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    shutil.copy(HERE / "printing_trial.py", tmp_path / "printing_trial.py")
    kubelet.execute_in = tmp_path
    await cluster.create(printing_study("printed", {"kind": "StdOut"}))
    async with carbs_operator(cluster):
        done = await wait_phase(cluster, "Succeeded", name="printed")
    trials = await trials_of(cluster, "printed")
    assert len(trials) == 4
    for trial in trials:
        status, params = trial["status"], trial["spec"]["params"]
        assert status["phase"] == "Succeeded", status.get("failureReason")
        loss = (math.log10(params["lr"]) + 2) ** 2 + (params["x"] - 0.3) ** 2 + \
            1 / params["size"]
        assert math.isclose(status["objective"], loss, rel_tol=1e-12)
        assert status["cost"] == params["size"]
        pods = await cluster.list("v1", "pods", "default",
                                  label_selector=f"carbs.dev/trial={trial['metadata']['name']}")
        assert "carbs.dev/result" not in (pods[0]["metadata"].get("annotations") or {})
    assert done["status"]["trials"]["succeeded"] == 4


async def test_a_log_without_the_objective_fails_only_its_trial(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    silent: set[float] = set()

    def printed(params: dict[str, float]) -> Output:
        if len(silent) < 2:  # the first two trials print no objective
            silent.add(params["x"])
            return Output("training...\nno metrics printed\n")
        return Output('{"loss": 0.5, "flops": 2}\n{"loss": 0.25, "flops": 2}\n')

    kubelet.objective = printed
    collector = {"kind": "StdOut", "format": "JSON"}
    await cluster.create(printing_study("json", collector, max_trials=4))
    async with carbs_operator(cluster):
        await wait_phase(cluster, "Succeeded", name="json")
    phases = set()
    for trial in await trials_of(cluster, "json"):
        status = trial["status"]
        phases.add(status["phase"])
        if trial["spec"]["params"]["x"] in silent:
            assert status["phase"] == "Failed"
            assert "no line of the output is a JSON object holding the objective 'loss'" in \
                status["failureReason"]
        else:
            assert (status["phase"], status["objective"]) == ("Succeeded", 0.25)
    assert (await get_study(cluster, "json"))["status"]["progress"] == "4/4"
    assert phases == {"Succeeded", "Failed"}


async def test_the_operator_reads_a_bounded_log_and_says_when_it_is_gone(
    cluster: Cluster
) -> None:
    api = KubeApi(cluster.api_client())
    await cluster.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "p", "namespace": "default"},
                          "spec": {"containers": [{"name": "train", "image": "x"},
                                                  {"name": "side", "image": "y"}]}})
    try:
        text, problem = await api.pod_log("default", "p", "train", 100)
        assert (text, problem) == (None, "no output: the log of pod p (train) is gone")
        cluster.emulator.pod_logs.write("default", "p", "train", "loss=1\n" * 50)
        text, problem = await api.pod_log("default", "p", "train", 21)
        assert (text, problem) == ("loss=1\nloss=1\nloss=1\n", None)
        assert (await api.pod_log("default", "gone", "train", 100))[1] == \
            "no output: the log of pod gone (train) is gone"
    finally:
        api.close()
