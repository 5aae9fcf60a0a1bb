"""The operator at scale on the API emulator: many studies, a huge one, replicas, kills.

Real `carbs operator` processes (sharded by Leases, the default) run against the
test-support API emulator and its simulated Job controller and kubelet, in this process.
Scenarios (each a row of benchmarks/results/operator_latency_scale.json):

- `load`: N studies x T trials at parallelism 2, with 1 or 2 replicas;
- `big`: one study of B finished trials (loaded, as if it had run for days) beside S small
  ones, against the same small ones alone (`--big 0`);
- `faults`: N studies while a replica is SIGKILLed K times at random moments (and started
  again, as its Deployment would).

Per run: the operator's overhead (a trial's Pod Succeeded to its study's next Job, minus
that study's mean engine time for a suggestion, read from the operator's log), the API
requests the operators sent per trial (all of them, and the Lease calls apart), their
peak memory (the main process, and the whole tree with the worker processes, sampled
together), memory per study, the longest event-loop lag the operators measured
(carbs_operator_event_loop_lag_max_seconds), trials run twice and trials lost, the
takeover time after each kill, and this process's own CPU (emulator + kubelet), to tell
when the emulator is the bottleneck.

    .venv/bin/python -m benchmarks.operator_scale load --studies 100 --trials 10
    .venv/bin/python -m benchmarks.operator_scale load --studies 100 --trials 10 --replicas 2
    .venv/bin/python -m benchmarks.operator_scale big --big 10000 --studies 50 --trials 6
    .venv/bin/python -m benchmarks.operator_scale faults --studies 100 --trials 6 --kills 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.operator_latency import _free_port, _latencies, _watch
from carbs_operator.validation import parse_study
from tests.k8s.conftest import objective, study
from tests.support.bulk import finished_trials, load
from tests.support.emulator import EXEMPT_HEADER, Cluster, start_cluster
from tests.support.kubelet import PhaseDelays, SimulatedKubelet

RESULTS = Path(__file__).parent / "results" / "operator_latency_scale.json"
ENGINE = re.compile(r"study (\S+): suggested (\d+) trial\(s\) in [\d.]+ s \(([\d.]+) s in")
IDENTITY = re.compile(r"replica (\S+) holds shards")
GV = "carbs.dev/v1alpha1"


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (the fork server and the worker processes)."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return out


def _rss_mib(pid: int, field: str = "Rss:") -> float:
    """Resident memory from smaps_rollup: `Rss:`, or `Pss:` (shared pages divided among
    the processes sharing them, so the worker processes forked from one fork server are
    not counted once each for the torch they share)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU a process has used, from /proc/PID/stat (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Replica:
    """One `carbs operator` process with its log and metrics port."""

    def __init__(self, kubeconfig: Path, directory: Path, args: list[str], index: int) -> None:
        self.port = _free_port()
        self.log = directory / f"operator-{index}-{time.monotonic_ns()}.log"
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        with open(self.log, "wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "carbs_operator.cli", "operator", "-n", "default",
                 "--metrics-port", str(self.port), *args],
                env=env, stdout=output, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def identity(self) -> str | None:
        found = IDENTITY.findall(self.text())
        return found[-1] if found else None

    def lag_max(self) -> float | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                        timeout=5) as response:
                text = response.read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            if line.startswith("carbs_operator_event_loop_lag_max_seconds "):
                return float(line.split()[1])
        return None

    async def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, 30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait()


def _engine_means(logs: list[str]) -> dict[str, float]:
    """Mean engine seconds per suggestion, per study ("default/name")."""
    seconds: dict[str, float] = {}
    counts: dict[str, int] = {}
    for text in logs:
        for key, count, engine in ENGINE.findall(text):
            seconds[key] = seconds.get(key, 0.0) + float(engine)
            counts[key] = counts.get(key, 0) + int(count)
    return {key: seconds[key] / counts[key] for key in seconds if counts[key]}


def _overheads(pods: list[Any], jobs: list[Any], engine: dict[str, float]) -> list[float]:
    """Per successor: its latency minus its study's mean engine time (pairs are matched in
    `_latencies`' order, so they are recomputed here per study)."""
    out = []
    for key in {f"{p['metadata']['namespace']}/{p['metadata']['labels']['carbs.dev/study']}"
                for _, _, p in pods}:
        mine_pods = [e for e in pods if f"{e[2]['metadata']['namespace']}/"
                     f"{e[2]['metadata']['labels']['carbs.dev/study']}" == key]
        mine_jobs = [e for e in jobs if f"{e[2]['metadata']['namespace']}/"
                     f"{e[2]['metadata']['labels']['carbs.dev/study']}" == key]
        out += [gap - engine.get(key, 0.0) for gap in _latencies(mine_pods, mine_jobs)]
    return out


def _requests_by_kind(requests: list[Any], trials: int) -> dict[str, float]:
    """Requests per trial by verb and resource (`GET carbstrials`, `PATCH carbstrials/status`,
    `LIST pods`...), the largest first: which calls a trial's lifecycle costs."""
    counts: Counter[str] = Counter()
    for request in requests:
        plural = request.resource.plural if request.resource is not None else "other"
        verb = str(request.action or request.method).upper()
        sub = f"/{request.subresource}" if request.subresource else ""
        counts[f"{verb} {plural}{sub}"] += 1
    return {kind: round(n / trials, 2) for kind, n in counts.most_common()}


def _quantiles(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {"median": None, "p95": None, "max": None}
    return {"median": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1]}


async def _shard_holders(cluster: Cluster) -> list[str]:
    leases = await cluster.list("coordination.k8s.io/v1", "leases", "default")
    return [str((lease.get("spec") or {}).get("holderIdentity") or "") for lease in leases
            if "-shard-" in lease["metadata"]["name"]]


async def run(scenario: str, *, studies: int, trials: int, parallelism: int = 2,
              replicas: int = 1, big: int = 0, kills: int = 0, lease_seconds: float = 15.0,
              running: float = 0.5, timeout: float = 3000.0, seed: int = 0,
              log_dir: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    args = ["--lease-seconds", str(lease_seconds)]
    delays = PhaseDelays(pending=0.05, running=running, finishing=0.05)
    async with start_cluster() as cluster, SimulatedKubelet(cluster, objective,
                                                            delays=delays) as kubelet:
        emulator = cluster.emulator
        names = [f"s{i}" for i in range(studies)]
        if big:
            body = await cluster.create(study("big", budget={"maxTrials": big,
                                                             "maxFailedTrials": 3}))
            load(emulator, finished_trials(body, parse_study(body).spec, big))
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = cluster.kubeconfig(Path(tmp) / "kubeconfig")
            live = [Replica(kubeconfig, Path(tmp), args, i) for i in range(replicas)]
            dead: list[Replica] = []
            await asyncio.sleep(8)  # started, before any study: the baseline
            baseline = sum(_rss_mib(r.process.pid) for r in live)
            requests_before = len(emulator._requests)
            pods: list[Any] = []
            jobs: list[Any] = []
            stop = asyncio.Event()
            watchers = [asyncio.create_task(_watch(cluster, "pods", "v1", pods, stop)),
                        asyncio.create_task(_watch(cluster, "jobs", "batch/v1", jobs, stop))]
            peak_main = peak_tree = 0.0
            # CPU of every operator process (main, fork server, workers) as last seen, less
            # what each had used at the baseline: the work the studies cost, whatever the load.
            cpu_base = {p: _cpu_seconds(p) or 0.0 for r in live for p in _tree(r.process.pid)}
            cpu_seen: dict[int, float] = {}
            takeovers: list[float] = []
            finished = asyncio.Event()
            kills_while_running = 0
            began = time.monotonic()
            for name in names:
                await cluster.create(study(name, parallelism=parallelism, budget={
                    "maxTrials": trials, "maxFailedTrials": trials}))

            async def sample() -> None:
                nonlocal peak_main, peak_tree
                while not stop.is_set():
                    main = sum(_rss_mib(r.process.pid) for r in live)
                    tree = sum(_rss_mib(p, "Pss:") for r in live for p in _tree(r.process.pid))
                    peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
                    for pid in (p for r in live for p in _tree(r.process.pid)):
                        used = _cpu_seconds(pid)
                        if used is not None:
                            cpu_seen[pid] = used
                    await asyncio.sleep(0.5)

            async def campaign() -> None:
                nonlocal kills_while_running
                for _ in range(kills):
                    await asyncio.sleep(rng.uniform(2.0, 6.0))
                    kills_while_running += not finished.is_set()
                    victim = rng.randrange(len(live))
                    who = live[victim].identity()
                    live[victim].kill9()
                    dead.append(live[victim])
                    killed = time.monotonic()
                    live[victim] = Replica(kubeconfig, Path(tmp), args, victim)
                    if who is None:
                        continue
                    while who in await _shard_holders(cluster):
                        await asyncio.sleep(0.1)
                    takeovers.append(time.monotonic() - killed)

            async def done() -> bool:
                found = await cluster.list(GV, "carbsstudies", "default")
                return bool(sum((s.get("status") or {}).get("phase") == "Succeeded"
                                for s in found if s["metadata"]["name"] != "big") == studies)

            sampler = asyncio.create_task(sample())
            faults = asyncio.create_task(campaign())
            try:
                await cluster.wait_for(done, timeout, what="every study Succeeded")
                finished.set()
                await faults
            finally:
                wall = time.monotonic() - began
                lags = [r.lag_max() for r in live]
                stop.set()
                faults.cancel()
                sampler.cancel()
                for task in watchers:
                    task.cancel()
                logs = [r.text() for r in [*dead, *live]]
                if log_dir is not None:
                    log_dir.mkdir(parents=True, exist_ok=True)
                    for index, text in enumerate(logs):
                        (log_dir / f"{scenario}-{index}.log").write_text(text)
                for replica in live:
                    await replica.stop()
            requests = [r for r in emulator._requests[requests_before:]
                        if EXEMPT_HEADER.lower() not in {k.lower() for k in r.headers}]
            trial_objects = await cluster.list(GV, "carbstrials", "default")
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    ran = [t for t in trial_objects if t["spec"]["study"] != "big"]
    operator_cpu = sum(used - cpu_base.get(pid, 0.0) for pid, used in cpu_seen.items())
    phases = Counter((t.get("status") or {}).get("phase") for t in ran)
    twice = sum(n - 1 for n in Counter(kubelet.started_jobs).values() if n > 1)
    engine = _engine_means(logs)
    overhead = _overheads(pods, jobs, engine)
    latency = _latencies(pods, jobs)
    lease_calls = sum(1 for r in requests if r.resource is not None
                      and r.resource.plural == "leases")
    return {
        "scenario": scenario, "studies": studies, "trials_per_study": trials,
        "parallelism": parallelism, "replicas": replicas, "big_study_trials": big,
        "kills": kills, "kills_while_studies_ran": kills_while_running,
        "lease_seconds": lease_seconds, "running_seconds": running,
        "trials": len(ran), "phases": dict(phases), "jobs_run_twice": twice,
        "trials_lost": phases.get("Lost", 0),
        "reaction_s": _quantiles(latency), "overhead_s": _quantiles(overhead),
        "engine_mean_s": statistics.mean(engine.values()) if engine else None,
        "api_requests": len(requests), "api_requests_per_trial": len(requests) / max(1, len(ran)),
        "lease_requests_per_trial": lease_calls / max(1, len(ran)),
        "requests_per_trial_by_kind": _requests_by_kind(requests, max(1, len(ran))),
        "operator_cpu_s": operator_cpu,
        "operator_cpu_per_trial_s": operator_cpu / max(1, len(ran)),
        "peak_main_rss_mib": peak_main, "peak_tree_pss_mib": peak_tree,
        "baseline_rss_mib": baseline,
        "rss_per_study_mib": (peak_main - baseline) / max(1, studies + (1 if big else 0)),
        "loop_lag_max_s": max((lag for lag in lags if lag is not None), default=None),
        "takeover_s": _quantiles(takeovers), "takeovers": len(takeovers),
        "wall_s": wall,
        "emulator_cpu_s": (cpu_after.ru_utime + cpu_after.ru_stime)
        - (cpu_before.ru_utime + cpu_before.ru_stime),
        "load_before": os.getloadavg(), "commit": _commit(),
    }


def _commit() -> str:
    """The commit the operator ran at, "+" when the working tree differed from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "operator/"],
                           check=False).returncode != 0
    return head + ("+" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=("load", "big", "faults"))
    parser.add_argument("--studies", type=int, default=100)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--parallelism", type=int, default=2)
    parser.add_argument("--replicas", type=int, default=None)
    parser.add_argument("--big", type=int, default=0)
    parser.add_argument("--kills", type=int, default=0)
    parser.add_argument("--lease-seconds", type=float, default=15.0)
    parser.add_argument("--running", type=float, default=0.5, help="seconds a trial runs")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the operators' logs")
    args = parser.parse_args(argv)
    replicas = args.replicas or (2 if args.scenario == "faults" else 1)
    row = asyncio.run(run(args.scenario, studies=args.studies, trials=args.trials,
                          parallelism=args.parallelism, replicas=replicas, big=args.big,
                          kills=args.kills, lease_seconds=args.lease_seconds,
                          running=args.running, log_dir=args.log_dir))
    print(json.dumps(row), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    rows = json.loads(RESULTS.read_text())["rows"] if RESULTS.exists() else []
    RESULTS.write_text(json.dumps({"rows": [*rows, row]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
