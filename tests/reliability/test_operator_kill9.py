"""Kill -9 a real `carbs operator` process at random moments, many times, and restart it.

The operator runs as its own process against the API emulator (KUBECONFIG), the simulated
kubelet runs the Jobs, and the test SIGKILLs the operator either at a random time after its
start (often during start-up or its first reconcile) or right after its n-th write to the
API (n random: between creating a trial and its Job, between a Job's end and the trial's
status, between the trial and the study status...). Studies come in waves: when one wave
is done while kills remain, the next is created. Afterwards every study must satisfy the
invariants of tests/reliability/support.py: exactly maxTrials trials, each Job run once,
status counts equal to the trial phases, replay equal to the finished trials.

Default suite: 4 kills over 3 studies. CARBS_LONG_TESTS=1: 50 kills.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kmock

from tests.k8s.conftest import objective, study
from tests.reliability.support import (
    LONG,
    Seeded,
    StudyFigures,
    check_k8s_study,
    describe,
    operator_writes,
    print_figures,
)
from tests.support.apiserver import Emulator
from tests.support.emulator import Cluster
from tests.support.kubelet import SimulatedKubelet
from tests.support.operator_process import CarbsOperator

STUDIES = kmock.resource(group="carbs.dev", version="v1alpha1", plural="carbsstudies")


def flaky_objective(params: dict[str, float]) -> Any:
    """Most trials succeed; those with x > 0.2 fail (exit 1), so failures are replayed too."""
    if params["x"] > 0.2:
        return RuntimeError("diverged")
    return objective(params)


def all_succeeded(emulator: Emulator, names: Iterable[str]) -> bool:
    """Read straight from the emulator's store: cheap enough to ask after every write."""
    phases = {obj["metadata"]["name"]: (obj.get("status") or {}).get("phase")
              for obj in emulator.live_objects(STUDIES)}
    return all(phases.get(name) == "Succeeded" for name in names)


async def kill_campaign(cluster: Cluster, kubelet: SimulatedKubelet, directory: Path,
                        seeded: Seeded, *, kills: int, studies_per_wave: int, max_trials: int,
                        parallelism: int) -> dict[str, Any]:
    rng = seeded.rng
    kubelet.objective = flaky_objective
    operator = CarbsOperator(cluster, directory, ["--standalone", "-n", "default"])
    waves: list[list[str]] = []

    async def new_wave() -> None:
        names = [f"w{len(waves)}-{chr(ord('a') + i)}" for i in range(studies_per_wave)]
        for name in names:
            await cluster.create(study(
                name, budget={"maxTrials": max_trials, "maxFailedTrials": max_trials},
                parallelism=parallelism, carbs={"seed": rng.randrange(10_000)},
            ))
        waves.append(names)

    began = time.monotonic()
    moments: Counter[str] = Counter()
    await new_wave()
    try:
        for kill in range(kills):
            if all_succeeded(cluster.emulator, waves[-1]):
                await new_wave()
            cluster.emulator.drop_watches()  # one more fault with each restart: every stream cut
            before = operator_writes(cluster.emulator)
            operator.start()
            if rng.random() < 0.2:
                moments["at a random time"] += 1
                await asyncio.sleep(rng.uniform(0.0, 6.0))
            else:
                moments["after a random write"] += 1
                n = rng.randint(1, 15)
                wave = waves[-1]

                def reached(n: int = n, wave: list[str] = wave, before: int = before) -> bool:
                    return (operator_writes(cluster.emulator) - before >= n
                            or all_succeeded(cluster.emulator, wave))

                try:
                    await cluster.wait_for(reached, 90, what=f"{n} operator writes")
                except TimeoutError as error:
                    state = await describe(cluster, kubelet, wave)
                    raise AssertionError(f"{seeded}, kill {kill}: no progress\n{state}\n"
                                         f"{operator.tail()}") from error
                await asyncio.sleep(rng.uniform(0.0, 0.2))
            operator.kill9()
    finally:
        operator.kill9()  # a failure above must not leave the process running
    names = [name for wave in waves for name in wave]
    cluster.emulator.drop_watches()
    operator.start()
    try:
        await cluster.wait_for(lambda: all_succeeded(cluster.emulator, names), 240,
                               what="every study Succeeded after the kills")
    except TimeoutError as error:
        state = await describe(cluster, kubelet, names)
        raise AssertionError(f"{seeded}: not finished\n{state}\n{operator.tail()}") from error
    finally:
        await operator.stop()
    totals = [await check_k8s_study(cluster, kubelet, name, context=str(seeded))
              for name in names]
    return _figures(seeded, kills, names, totals, moments, operator.starts, began)


def _figures(seeded: Seeded, kills: int, names: list[str], totals: list[StudyFigures],
             moments: Counter[str], starts: int, began: float) -> dict[str, Any]:
    return {
        "seed": seeded.seed, "kills": kills, "operator_starts": starts,
        "kill_moments": dict(moments), "studies": len(names),
        "trials": sum(t.trials for t in totals),
        "succeeded": sum(t.succeeded for t in totals), "failed": sum(t.failed for t in totals),
        "duplicates_found": 0, "lost": 0, "seconds": round(time.monotonic() - began, 1),
    }


async def test_operator_killed_at_random_moments(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path, seeded: Seeded
) -> None:
    if LONG:
        figures = await kill_campaign(cluster, kubelet, tmp_path, seeded, kills=50,
                                      studies_per_wave=4, max_trials=8, parallelism=3)
    else:
        figures = await kill_campaign(cluster, kubelet, tmp_path, seeded, kills=4,
                                      studies_per_wave=3, max_trials=5, parallelism=2)
    print_figures("operator kill -9" + (" (long)" if LONG else ""), figures)
