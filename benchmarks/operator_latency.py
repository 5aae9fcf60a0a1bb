"""Operator reaction time on the API emulator: a trial's Pod Succeeded -> the next Job created.

A real `carbs operator` process (kopf, the kubernetes client, the engine) runs against the
test-support API emulator (tests/support) with its simulated Job controller and kubelet, for
1, 10 and 50 studies at once, each with parallelism 1, so every finished trial is followed
by exactly one new Job of the same study. This process watches Pods and Jobs and times, per
study, each Pod's Succeeded event to the ADDED event of that study's next Job. The
operator's own CPU time and peak memory come from /proc; its mean suggest time from its
/metrics. Results: benchmarks/results/operator_latency.json and a markdown table.

    .venv/bin/python -m benchmarks.operator_latency [--studies 1 10 50] [--trials 8]

The operator at scale (many studies at parallelism 2, a study of 10,000 trials, replicas,
a kill campaign; API requests per trial, memory with the worker processes, loop lag) is
`benchmarks.operator_scale`, which reuses this module's watchers and latency pairing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.k8s.conftest import objective, study
from tests.support.emulator import Cluster, start_cluster
from tests.support.kubelet import PhaseDelays, SimulatedKubelet

RESULTS = Path(__file__).parent / "results" / "operator_latency.json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _proc_usage(pid: int) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB) of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


def _suggest_mean(port: int) -> float | None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("carbs_suggest_duration_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("carbs_suggest_duration_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total / count if count else None


async def _watch(cluster: Cluster, plural: str, group_version: str,
                 events: list[tuple[float, str, dict[str, Any]]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            async for event in cluster.watch(group_version, plural, None,
                                             label_selector="carbs.dev/study", timeout=30):
                events.append((time.monotonic(), event["type"], event["object"]))
                if stop.is_set():
                    return
        except Exception:  # a dropped stream: watch again
            await asyncio.sleep(0.05)


def _latencies(pods: list[tuple[float, str, dict[str, Any]]],
               jobs: list[tuple[float, str, dict[str, Any]]]) -> list[float]:
    done: dict[str, list[float]] = {}
    seen: set[str] = set()
    for at, _, pod in pods:
        name = pod["metadata"]["name"]
        if (pod.get("status") or {}).get("phase") == "Succeeded" and name not in seen:
            seen.add(name)
            key = f"{pod['metadata']['namespace']}/{pod['metadata']['labels']['carbs.dev/study']}"
            done.setdefault(key, []).append(at)
    created: dict[str, list[float]] = {}
    for at, kind, job in jobs:
        if kind == "ADDED":
            key = f"{job['metadata']['namespace']}/{job['metadata']['labels']['carbs.dev/study']}"
            created.setdefault(key, []).append(at)
    out = []
    for key, finishes in done.items():
        starts = sorted(created.get(key, []))
        for finish in finishes:
            later = [s for s in starts if s > finish]
            if later:
                out.append(later[0] - finish)
    return out


async def measure(studies: int, trials: int) -> dict[str, Any]:
    async with start_cluster() as cluster, SimulatedKubelet(
        cluster, objective, delays=PhaseDelays(pending=0.02, running=0.1, finishing=0.02)
    ):
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = cluster.kubeconfig(Path(tmp) / "kubeconfig")
            port = _free_port()
            env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
            log = open(Path(tmp) / "operator.log", "wb")  # noqa: SIM115 - closed below
            operator = subprocess.Popen(
                [sys.executable, "-m", "carbs_operator.cli", "operator", "-n", "default",
                 "--standalone", "--metrics-port", str(port)],
                env=env, stdout=log, stderr=log,
            )
            pods: list[tuple[float, str, dict[str, Any]]] = []
            jobs: list[tuple[float, str, dict[str, Any]]] = []
            stop = asyncio.Event()
            watchers = [asyncio.create_task(_watch(cluster, "pods", "v1", pods, stop)),
                        asyncio.create_task(_watch(cluster, "jobs", "batch/v1", jobs, stop))]
            try:
                began = time.monotonic()
                for i in range(studies):
                    await cluster.create(study(f"s{i}", parallelism=1,
                                               budget={"maxTrials": trials, "maxFailedTrials": 1}))

                async def all_done() -> bool:
                    found = await cluster.list("carbs.dev/v1alpha1", "carbsstudies", "default")
                    return len(found) == studies and all(
                        (s.get("status") or {}).get("phase") == "Succeeded" for s in found)

                try:
                    await cluster.wait_for(all_done, 600, what="all studies Succeeded")
                except TimeoutError:
                    print(Path(tmp, "operator.log").read_text()[-5000:], file=sys.stderr)
                    raise
                wall = time.monotonic() - began
                cpu, peak = _proc_usage(operator.pid)
                suggest = _suggest_mean(port)
            finally:
                stop.set()
                operator.terminate()  # waited for in a thread: the emulator must keep serving
                await asyncio.to_thread(operator.wait, 30)
                for task in watchers:
                    task.cancel()
                log.close()
    gaps = sorted(_latencies(pods, jobs))
    p95 = gaps[min(len(gaps) - 1, int(0.95 * len(gaps)))] if gaps else None
    return {
        "studies": studies, "trials_per_study": trials, "samples": len(gaps),
        "median_s": statistics.median(gaps) if gaps else None, "p95_s": p95,
        "mean_suggest_s": suggest, "operator_cpu_s": cpu, "operator_peak_rss_mib": peak,
        "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args(argv)
    rows = []
    for count in args.studies:
        row = asyncio.run(measure(count, args.trials))
        print(json.dumps(row), flush=True)
        rows.append(row)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"load_before": os.getloadavg(), "rows": rows}, indent=2))
    print("\n| studies | trials | median Succeeded→next Job | p95 | mean suggest | "
          "operator CPU | operator peak RSS |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['studies']} | {r['studies'] * r['trials_per_study']} | "
              f"{r['median_s']:.3f} s | {r['p95_s']:.3f} s | {r['mean_suggest_s']:.3f} s | "
              f"{r['operator_cpu_s']:.1f} s | {r['operator_peak_rss_mib']:.0f} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
