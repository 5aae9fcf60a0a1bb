"""Stop the operator at the awkward moments, start it again: no trial lost, none twice.

Each moment is pinned with an injected API fault, so the state left behind is exactly the
one a crash there leaves (the emulator refuses the next write), then the operator is
stopped and started afresh. The last test kills a real `carbs operator` process with
SIGKILL at three moments of one study.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.k8s.conftest import carbs_operator, get_study, objective, study, trials_of
from tests.support.apiserver import Faults
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet
from tests.support.operator_process import CarbsOperator

MAX_TRIALS = 6


async def finish_and_check(cluster: Cluster, kubelet: SimulatedKubelet) -> None:
    """Run the operator until the study succeeds; check every index exists and ran once."""
    async with carbs_operator(cluster):
        async def succeeded() -> bool:
            status = (await get_study(cluster)).get("status") or {}
            return status.get("phase") == "Succeeded"

        await cluster.wait_for(succeeded, 60, what="study Succeeded")
    trials = await trials_of(cluster)
    assert [t["spec"]["index"] for t in trials] == list(range(MAX_TRIALS))
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    runs = Counter(kubelet.started_jobs)
    assert sorted(runs) == sorted(f"default/quad-{i}" for i in range(MAX_TRIALS))
    assert set(runs.values()) == {1}, runs
    status = (await get_study(cluster))["status"]
    assert status["trials"]["succeeded"] == MAX_TRIALS
    assert status["trials"]["total"] == MAX_TRIALS


async def test_after_suggesting_before_the_trial_exists(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create(study(budget={"maxTrials": MAX_TRIALS, "maxFailedTrials": 1}))
    cluster.emulator.faults = Faults(error_rate=1.0, error_codes=(500,), methods=frozenset(
        {"POST"}), path_pattern="/carbstrials")
    async with carbs_operator(cluster):
        await asyncio.sleep(1.5)  # it suggests, and fails to create the trial, repeatedly
    assert await trials_of(cluster) == []
    cluster.emulator.faults = Faults()
    await finish_and_check(cluster, kubelet)


async def test_after_the_trial_before_its_job(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create(study(budget={"maxTrials": MAX_TRIALS, "maxFailedTrials": 1}))
    cluster.emulator.faults = Faults(error_rate=1.0, error_codes=(500,), methods=frozenset(
        {"POST"}), path_pattern="/jobs")
    async with carbs_operator(cluster):
        await cluster.wait_for(lambda: trials_of(cluster), 10, what="trials without Jobs")
    assert await cluster.list("batch/v1", "jobs", "default") == []
    cluster.emulator.faults = Faults()
    await finish_and_check(cluster, kubelet)


async def test_after_the_job_succeeded_before_the_result_was_recorded(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = objective
    await cluster.create(study(budget={"maxTrials": MAX_TRIALS, "maxFailedTrials": 1}))
    cluster.emulator.faults = Faults(error_rate=1.0, error_codes=(500,), methods=frozenset(
        {"PATCH"}), path_pattern="/carbstrials/.*/status")

    async def two_jobs_done() -> bool:
        jobs = await cluster.list("batch/v1", "jobs", "default")
        return sum(bool((j.get("status") or {}).get("succeeded")) for j in jobs) >= 2

    async with carbs_operator(cluster):
        await cluster.wait_for(two_jobs_done, 10, what="two Jobs succeeded")
    assert all(not t.get("status") for t in await trials_of(cluster))  # nothing recorded yet
    cluster.emulator.faults = Faults()
    await finish_and_check(cluster, kubelet)


async def test_kill_9_a_real_operator_process_three_times(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    """`carbs operator` as a real process, SIGKILLed mid-study three times."""
    kubelet.objective = objective
    operator = CarbsOperator(cluster, tmp_path, ["-n", "default", "--standalone"])
    await cluster.create(study(budget={"maxTrials": 8, "maxFailedTrials": 1}))

    async def trial_count() -> int:
        return len(await trials_of(cluster))

    for at_least in (1, 3, 5):
        operator.start()
        try:
            try:
                await cluster.wait_for(lambda n=at_least: _at_least(trial_count, n), 60,
                                       what=f"{at_least} trials")
            except TimeoutError as error:
                raise AssertionError(operator.tail()) from error
        finally:
            operator.kill9()

    async def succeeded() -> bool:
        status = (await get_study(cluster)).get("status") or {}
        return status.get("phase") == "Succeeded"

    async with operator:
        await cluster.wait_for(succeeded, 90, what="study Succeeded after the kills")
    trials = await trials_of(cluster)
    assert [t["spec"]["index"] for t in trials] == list(range(8))
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    assert set(Counter(kubelet.started_jobs).values()) == {1}


async def _at_least(count: object, n: int) -> bool:
    return await count() >= n  # type: ignore[operator,no-any-return]
