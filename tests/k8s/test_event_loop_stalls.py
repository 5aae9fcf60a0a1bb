"""No callback holds the operator's event loop for more than 100 ms, with a study of 5,000
trials reconciled beside small ones.

`carbs operator` runs as a process of its own (as in a pod; the emulator's own JSON work
then does not share its GIL) under asyncio's debug mode (PYTHONASYNCIODEBUG=1), whose
slow-callback detection logs every callback or task step that ran longer than
`loop.slow_callback_duration` (0.1 s by default): "Executing <...> took 0.123 seconds".
"""

from __future__ import annotations

import re
from pathlib import Path

from carbs_operator.validation import parse_study
from tests.k8s.conftest import GV, get_study, objective, study
from tests.support.bulk import finished_trials, load
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet
from tests.support.operator_process import CarbsOperator

BIG = 5000
SLOW = re.compile(r"Executing .* took (\d+\.\d+) seconds")


async def test_a_5000_trial_study_does_not_stall_the_loop(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    kubelet.objective = objective
    big = await cluster.create(study("big", budget={"maxTrials": BIG, "maxFailedTrials": 3}))
    load(cluster.emulator, finished_trials(big, parse_study(big).spec, BIG))
    small = [f"small-{i}" for i in range(3)]
    for name in small:
        await cluster.create(study(name, budget={"maxTrials": 4, "maxFailedTrials": 2}))
    operator = CarbsOperator(cluster, tmp_path, ["-n", "default", "--standalone",
                                                 "--workers", "2"])
    operator.env["PYTHONASYNCIODEBUG"] = "1"
    async with operator:
        async def done() -> bool:
            phases = [((await get_study(cluster, name)).get("status") or {}).get("phase")
                      for name in ["big", *small]]
            return all(phase == "Succeeded" for phase in phases)

        try:
            await cluster.wait_for(done, 240, what="the big study and the small ones Succeeded")
        except TimeoutError:
            raise AssertionError(operator.tail()) from None
        status = (await get_study(cluster, "big"))["status"]
    assert status["trials"]["succeeded"] == BIG, status["trials"]
    assert len(await cluster.list(GV, "carbstrials", "default",
                                  label_selector="carbs.dev/study=big")) == BIG
    stalls = [float(m.group(1)) for m in SLOW.finditer(operator.output())]
    assert not stalls, f"the loop was held {len(stalls)} time(s), at most {max(stalls)} s:\n" \
        + "\n".join(line for line in operator.output().splitlines() if "Executing" in line)[-3000:]
