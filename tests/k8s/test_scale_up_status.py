"""status.scaleUp on the API emulator, and `carbs predict --cluster` through a kubeconfig.

Real: kopf, HTTP on 127.0.0.1, the kubernetes client, the engine, the CRD schema the
emulator validates the status against, and `carbs predict` in a subprocess reading the
emulator through a kubeconfig file. Simulated: the Job controller and kubelet.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

from tests.k8s.conftest import carbs_operator, get_study, study, trials_of
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet


def law(params: dict[str, float]) -> dict[str, float]:
    """A loss that falls with size as a saturating power law; cost = size."""
    loss = 0.3 + 2.0 / math.sqrt(params["size"]) + 0.01 * (math.log10(params["lr"]) + 2) ** 2
    return {"loss": loss, "cost": params["size"]}


async def carbs(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """The `carbs` CLI in a subprocess, awaited so the emulator (on this loop) can answer."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "carbs_operator.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_scale_up_in_status_and_through_the_kubeconfig(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    kubelet.objective = law
    await cluster.create(study(budget={"maxTrials": 12, "maxFailedTrials": 3},
                               carbs={"seed": 1, "initialSearchRadius": 1.0}))

    async def predicted() -> dict[str, Any] | None:
        obj = await get_study(cluster)
        status = obj.get("status") or {}
        done = status.get("phase") == "Succeeded"
        return obj if done and "scaleUp" in status else None

    async with carbs_operator(cluster):
        done = await cluster.wait_for(predicted, 120, what="study Succeeded with scaleUp")
    scale_up = done["status"]["scaleUp"]
    trials = await trials_of(cluster)
    largest = max(t["status"]["cost"] for t in trials)
    assert set(scale_up) == {"cost", "params", "intervals", "objective", "objectiveInterval",
                             "extrapolation"}
    assert scale_up["cost"] == 10 * largest
    assert scale_up["extrapolation"] == 10
    assert set(scale_up["params"]) == set(scale_up["intervals"]) == {"lr", "x", "size"}
    size = scale_up["params"]["size"]
    assert size == round(size)  # an integer parameter's prediction is a legal integer
    assert 1 <= size <= 1000
    for name, (low, high) in scale_up["intervals"].items():
        assert low <= scale_up["params"][name] <= high, name
    low, high = scale_up["objectiveInterval"]
    assert low <= scale_up["objective"] <= high
    assert 0.3 <= scale_up["objective"] < min(t["status"]["objective"] for t in trials)

    # `carbs predict --cluster` reads the same study and trials as kubectl would.
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig(tmp_path / "kubeconfig"))}
    code, out, err = await carbs("predict", "--cluster", "default/quad", "--cost",
                                 repr(scale_up["cost"]), "--json", env=env)
    assert code == 0, err
    document = json.loads(out)
    assert document["params"] == scale_up["params"]  # the same laws; more resamples
    assert math.isclose(document["objective"], scale_up["objective"], rel_tol=1e-9)

    code, out, err = await carbs("predict", "--cluster", "default/absent", "--cost", "10",
                                 env=env)
    assert code == 1
    assert "--cluster default/absent: 404" in err
