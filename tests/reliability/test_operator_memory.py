"""Operator memory at 50 studies x 100 trials on the emulator (long mode only: it runs for
many minutes on two shared cores).

A real `carbs operator` process serves 50 studies of 100 trials each (parallelism 10)
against the emulator and the simulated kubelet; the test samples the process's resident
memory (/proc/<pid>/status: VmRSS, and VmHWM, the kernel's high-water mark) and CPU time
until every study has succeeded, then checks every study's invariants and prints the
figures quoted in docs/reliability.md. CARBS_MEMORY_STUDIES / CARBS_MEMORY_TRIALS shrink
the run for a try-out.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tests.k8s.conftest import objective, study
from tests.reliability.support import (
    check_k8s_study,
    long_only,
    print_figures,
)
from tests.reliability.test_operator_kill9 import all_succeeded
from tests.support.emulator import Cluster
from tests.support.kubelet import PhaseDelays, SimulatedKubelet
from tests.support.operator_process import CarbsOperator

STUDIES = int(os.environ.get("CARBS_MEMORY_STUDIES", "50"))
TRIALS = int(os.environ.get("CARBS_MEMORY_TRIALS", "100"))
TICKS = os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


@long_only
async def test_operator_memory_at_50_studies_of_100_trials(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    kubelet.objective = objective
    kubelet.delays = PhaseDelays(pending=0.01, running=0.02, finishing=0.01)
    names = [f"m{i:02d}" for i in range(STUDIES)]
    for name in names:
        await cluster.create(study(name, budget={"maxTrials": TRIALS, "maxFailedTrials": TRIALS},
                                   parallelism=10))
    operator = CarbsOperator(cluster, tmp_path, ["--standalone", "-n", "default"])
    process = operator.start()
    began = time.monotonic()
    samples: list[tuple[float, int, int]] = []  # (seconds, finished trials, VmRSS KiB)
    try:
        while not all_succeeded(cluster.emulator, names):
            await asyncio.sleep(5)
            assert process.poll() is None, operator.tail()
            finished = sum(
                (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                for obj in await cluster.list("carbs.dev/v1alpha1", "carbstrials", "default"))
            samples.append((time.monotonic() - began, finished, memory_kib(process.pid)["VmRSS"]))
            assert time.monotonic() - began < 3 * 3600, samples[-1]
        seconds = time.monotonic() - began
        memory = memory_kib(process.pid)
        cpu = cpu_seconds(process.pid)
    finally:
        await operator.stop()
    for name in names:
        await check_k8s_study(cluster, kubelet, name)
    half = next((rss for _, done, rss in samples if done >= STUDIES * TRIALS // 2), 0)
    print_figures("operator memory", {
        "studies": STUDIES, "trials": STUDIES * TRIALS, "seconds": round(seconds),
        "operator_cpu_seconds": round(cpu), "peak_rss_mib": round(memory["VmHWM"] / 1024),
        "end_rss_mib": round(memory["VmRSS"] / 1024),
        "first_sample_rss_mib": round(samples[0][2] / 1024) if samples else None,
        "half_way_rss_mib": round(half / 1024),
    })
