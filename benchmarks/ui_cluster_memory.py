"""`carbs ui --cluster` watching many studies: its memory, and how fast it answers.

A real `carbs ui --cluster --all-namespaces` process (as in its pod) against the API
emulator holding STUDIES studies of TRIALS finished trials each, every trial with a learning
curve of CURVE_POINTS points (what report_progress leaves in status.learningCurve). It
measures the process's resident memory (VmRSS, and VmHWM: its peak) once its watches have
synced, then after opening every study's page once (each view computed and cached), and
the time the studies list and a cached study page take to answer.

    .venv/bin/python -m benchmarks.ui_cluster_memory [--studies 200 --trials 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from carbs_operator.early_stopping import CurvePoint
from carbs_operator.trial_progress import curve_to_status
from carbs_operator.validation import parse_study
from tests.k8s.conftest import study
from tests.support.bulk import finished_trials, load
from tests.support.emulator import start_cluster

RESULTS = Path(__file__).parent / "results" / "ui_cluster_memory.json"
CURVE_POINTS = 20


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def _get(url: str) -> tuple[float, Any]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as answer:  # noqa: S310 - 127.0.0.1
        body = json.loads(answer.read())
    return time.perf_counter() - began, body


def _with_curves(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for trial in trials:
        final = float(trial["status"]["objective"])
        cost = float(trial["status"]["cost"])
        curve = [CurvePoint(step=10 * (k + 1), objective=final * (1 + 2.0 / (k + 1)),
                            cost=cost * (k + 1) / CURVE_POINTS) for k in range(CURVE_POINTS)]
        trial["status"]["learningCurve"] = curve_to_status(curve)
    return trials


async def measure(studies: int, trials: int) -> dict[str, Any]:
    async with start_cluster() as cluster:
        loaded = 0
        for number in range(studies):
            body = await cluster.create(study(f"s{number}", budget={"maxTrials": trials,
                                                                    "maxFailedTrials": 3}))
            loaded += load(cluster.emulator, _with_curves(finished_trials(
                body, parse_study(body).spec, trials, seed=number)))
        folder = Path(tempfile.mkdtemp())
        port = _port()
        env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig(folder / "kubeconfig"))}
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "carbs_operator.cli", "ui", "--cluster", "--all-namespaces",
             "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    _, listed = await asyncio.to_thread(_get, f"{base}/api/studies")
                    if len(listed) == studies:
                        break
                except OSError:
                    pass
                await asyncio.sleep(0.5)
            # Trials are listed in name order: once the study whose trials come last has
            # all of them (its revision counts their events), every trial is mirrored.
            last = max(listed, key=lambda entry: entry["name"] + "-")
            while int((await asyncio.to_thread(
                    _get, f"{base}/api/studies/{last['key']}/revision"))[1]["revision"]) \
                    < trials:
                await asyncio.sleep(0.5)
            synced = time.perf_counter() - began
            after_sync = _memory(process.pid)
            list_times = [(await asyncio.to_thread(_get, f"{base}/api/studies"))[0]
                          for _ in range(5)]
            first_views = []
            for entry in listed:
                seconds, _ = await asyncio.to_thread(
                    _get, f"{base}/api/studies/{entry['key']}")
                first_views.append(seconds)
            cached = [(await asyncio.to_thread(
                _get, f"{base}/api/studies/{listed[0]['key']}"))[0] for _ in range(5)]
            after_views = _memory(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {
        "studies": studies, "trials_per_study": trials, "trials": loaded,
        "curve_points": CURVE_POINTS, "sync_seconds": round(synced, 2),
        "rss_after_sync_mib": round(after_sync["VmRSS"], 1),
        "rss_after_every_view_mib": round(after_views["VmRSS"], 1),
        "peak_rss_mib": round(after_views["VmHWM"], 1),
        "studies_list_seconds_median": round(statistics.median(list_times), 4),
        "first_view_seconds_median": round(statistics.median(first_views), 3),
        "first_view_seconds_max": round(max(first_views), 3),
        "cached_view_seconds_median": round(statistics.median(cached), 4),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.studies, args.trials))
    print(json.dumps(result, indent=2))
    if not args.no_write:
        RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
