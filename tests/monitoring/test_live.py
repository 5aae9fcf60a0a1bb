"""The dashboard and alert rules against real data: a real Prometheus (Debian's binary)
scrapes a real `carbs run --metrics-port` of a small quadratic study every second, with the
chart's rule file loaded; then every dashboard query goes through Prometheus' HTTP API the
way Grafana sends it (variables filled in from the variable queries' own answers).

Nothing is mocked, so this proves what the static tests cannot: that the queries return
data for the series `carbs run` really exposes over OpenMetrics, that the values agree with
the study's state, that every rule evaluates without error, and that CarbsOperatorDown's
default selector matches a target whose job is named "carbs-operator".
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from carbs_operator.dashboard import build_dashboard, panels
from carbs_operator.local.store import TrialStore
from carbs_operator.metrics import QUANTILES, saved_cost
from carbs_operator.models import TrialPhase
from tests.local.test_early_stopping_local import manifest as progress_manifest
from tests.monitoring.promql import LABEL_VALUES, expand
from tests.support.builders import quad_manifest

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="prometheus not on PATH (apt-get install prometheus provides it)",
)
ROOT = Path(__file__).parents[2]
RULES = ROOT / "charts" / "carbs-operator" / "files" / "prometheus-rules.yaml"
TRIAL_SCRIPT = ROOT / "tests" / "local" / "quadratic_trial.py"
JOB = "carbs-operator"  # what the chart's ServiceMonitor names the job; the alert expects it
MAX_TRIALS = 6
WINDOW = "5m"  # the dashboard's shortest window; it spans the whole run
# Every panel must show data: the engine reports its GP fit time with each Bayesian
# suggestion, and `carbs run` passes it on.
EMPTY_LOCALLY = {"Shards held, by replica", "Shard holders", "Event-loop lag"}
# The scale-up panels have data once the frontier supports a law (4+ points over half a
# decade of cost), which six quadratic trials may not reach; tests/monitoring/conftest.py
# and tests/operator/test_metrics.py check their series on a study that does.
MAY_BE_EMPTY = {"Objective scaling law", "Predicted objective at 10×", "Parameters by verdict",
                "Scaling-law exponents", "Scaling-law exponent over time"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Prometheus:
    port: int
    log: Path

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/api/v1/{path}?{query}", timeout=10) as reply:
            body = json.load(reply)
        assert body["status"] == "success", body
        return body["data"]

    def has_scraped(self) -> bool:
        """Whether the scrape loop has tried the metrics port at least once. Prometheus
        applies its targets up to ~5 s after it reports ready; a run started before then
        had only its last 2-3 seconds scraped (a flaky "too few successful scrapes")."""
        targets = self.api("targets")["activeTargets"]
        return any(t.get("health") in ("up", "down") for t in targets)

    def ready(self) -> bool:
        try:
            url = f"http://127.0.0.1:{self.port}/-/ready"
            with urllib.request.urlopen(url, timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False


@pytest.fixture
def metrics_port() -> int:
    return free_port()


@pytest.fixture
def prometheus(tmp_path: Path, metrics_port: int) -> Iterator[Prometheus]:
    """Prometheus on 127.0.0.1, scraping the metrics port every second, rules loaded."""
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                   "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": JOB,
                            "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}],
    }), encoding="utf-8")
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=output, stderr=subprocess.STDOUT,
        )
    server = Prometheus(port, log)
    try:
        wait_for(lambda: server.ready() or process.poll() is not None, 30, "Prometheus")
        assert process.poll() is None, log.read_text()
        yield server
    finally:
        stop(process)


@pytest.fixture
def carbs_run(
    tmp_path: Path, metrics_port: int, prometheus: Prometheus
) -> Iterator[subprocess.Popen[bytes]]:
    """`carbs run` of a six-trial quadratic study, two at a time, each trial ~1.5 s; started
    once Prometheus scrapes the (still closed) port, so it is scraped from its first second."""
    wait_for(prometheus.has_scraped, 30, "Prometheus to scrape the metrics port")
    shutil.copy(TRIAL_SCRIPT, tmp_path / "quadratic_trial.py")
    study = tmp_path / "study.yaml"
    study.write_text(yaml.safe_dump(quad_manifest(
        name="quad", extra_args=["--sleep=1.5"],
        budget={"maxTrials": MAX_TRIALS, "maxFailedTrials": 3},
        # Two random trials, then four Bayesian ones: GP fits from the run's first seconds.
        carbs={"seed": 0, "numRandomSamples": 2},
    )), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "carbs_operator.cli", "run", str(study), "--state-dir",
         str(tmp_path / "state"), "--device", "cpu", "--metrics-port", str(metrics_port)],
        env={**os.environ, "TRIAL_LOG": str(tmp_path / "trials.log")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield process
    finally:
        stop(process)


def _values(result: list[dict[str, Any]]) -> list[float]:
    """Every number in an instant (value) or range (values) answer."""
    points = [p for series in result for p in series.get("values", [series.get("value")])]
    return [float(value) for _, value in points]


def test_dashboard_queries_and_rules_on_a_real_run(
    prometheus: Prometheus, carbs_run: subprocess.Popen[bytes], tmp_path: Path,
    metrics_port: int,
) -> None:
    began = time.time()
    _, stderr = carbs_run.communicate(timeout=120)
    assert carbs_run.returncode == 0, stderr.decode()
    instance = f"127.0.0.1:{metrics_port}"
    up = f'up{{job="{JOB}", instance="{instance}"}}'

    # Prometheus has seen the target go away: everything the run exposed is stored.
    wait_for(lambda: any(v == 0 for v in _values(prometheus.api("query", query=up)["result"])),
             10, "Prometheus to see the run end")
    scraped = prometheus.api("query_range", query=up, start=began, end=time.time(), step=1)
    moments = [float(t) for series in scraped["result"] for t, v in series["values"] if v == "1"]
    assert len(moments) >= 3, f"too few successful scrapes: {scraped}"
    start, last = moments[0], moments[-1]  # the run as Prometheus saw it

    # The variables, answered by Prometheus as Grafana asks for them.
    dashboard = build_dashboard()
    values: dict[str, str] = {"window": WINDOW}
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = LABEL_VALUES.match(variable["definition"])
        assert match, variable["definition"]
        answer = prometheus.api(f"label/{match['label']}/values", start=start, end=last,
                                **{"match[]": expand(match["selector"], **values)})
        assert answer, f"variable {variable['name']} has no values"
        values[variable["name"]] = "|".join(answer)  # Grafana's multi-value "All" (regex)
    assert values["namespace"] == "local"
    assert values["study"] == "quad"

    # Every panel query: instant ones at the run's last scrape, the rest over the run.
    results: dict[str, list[list[dict[str, Any]]]] = {}
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = expand(target["expr"], **values)
            if target["instant"]:
                data = prometheus.api("query", query=expr, time=last)
            else:
                data = prometheus.api("query_range", query=expr, start=start, end=last, step=1)
            results.setdefault(panel["title"], []).append(data["result"])
    empty = sorted(title for title, answers in results.items() if not all(answers))
    assert set(empty) - MAY_BE_EMPTY == EMPTY_LOCALLY, f"panels without data: {empty}"

    with TrialStore(tmp_path / "state" / "quad.db") as store:
        trials = store.trials()
    objectives = {t.objective for t in trials if t.phase == TrialPhase.SUCCEEDED}
    assert len(objectives) == MAX_TRIALS

    # Core panels agree with the study's state.
    best = _values(results["Best objective over time"][0])
    assert set(best) <= objectives  # a value a trial reached...
    assert best == sorted(best, reverse=True)  # ...and it only improves (minimize)
    cost = _values(results["Cumulative cost"][0])
    assert cost == sorted(cost)
    assert 0 < cost[-1] <= sum(t.cost or 0.0 for t in trials) + 1e-9
    finished = {s["metric"]["outcome"]: _values([s])[-1]
                for s in results["Trials finished"][0]}
    assert set(finished) == {"succeeded", "failed", "lost", "earlystopped"}
    assert 1 <= finished["succeeded"] <= MAX_TRIALS
    assert finished["failed"] == finished["lost"] == finished["earlystopped"] == 0
    running = [s for s in results["Trials in flight, by phase"][0] if
               s["metric"]["phase"] == "running"]
    assert 1 <= max(_values(running)) <= 2  # parallelism 2
    assert max(_values(results["Trials finished per hour, by outcome"][0])) > 0
    assert set(_values(results["Trial failure ratio"][0])) == {0.0}
    for latency in [*results["Suggest latency"], *results["GP fit latency"]]:  # p50, p95
        # NaN until the window holds a suggestion after the first scrape; a time then on.
        points = _values(latency)
        assert math.isfinite(points[-1]), points
        assert all(v > 0 for v in points if math.isfinite(v)), points
    frontier = results["Cost–objective frontier"][0]
    assert {s["metric"]["cost_quantile"] for s in frontier} == set(QUANTILES)
    assert {s["metric"]["study_key"] for s in frontier} == {"local/quad"}
    assert set(_values(frontier)) <= objectives
    assert all(v >= 0 for v in _values(results["Time since a trial last finished"][0]))
    assert set(_values(results["Reconcile errors"][0])) == {0.0}
    # No spec.earlyStopping: the early-stopping panels show zeros, not gaps.
    for title in ("Trials stopped early", "Compute saved", "Trials stopped early, over time",
                  "Share of compute saved by early stopping"):
        assert set(_values(results[title][0])) == {0.0}, title
    build = results["Build info"][0]
    assert [s["metric"]["job"] for s in build] == [JOB]
    assert build[0]["metric"]["version"]

    # The rules: every one evaluates without error; none fires during a healthy run ...
    groups = prometheus.api("rules")["groups"]
    evaluated = [rule for group in groups for rule in group["rules"]]
    assert len(evaluated) == 5
    assert all(rule["health"] == "ok" for rule in evaluated), evaluated
    for rule in evaluated:
        assert prometheus.api("query", query=rule["query"], time=last)["result"] == [], rule

    # ... and with the run gone, CarbsOperatorDown's default selector matches its target.
    def operator_down() -> bool:
        alerts = prometheus.api("alerts")["alerts"]
        return any(a["labels"]["alertname"] == "CarbsOperatorDown"
                   and a["labels"].get("instance") == instance for a in alerts)

    wait_for(operator_down, 10, "CarbsOperatorDown to become pending")


def test_early_stopping_panels_on_a_real_run(
    prometheus: Prometheus, tmp_path: Path, metrics_port: int
) -> None:
    """`carbs run` of a study with spec.earlyStopping (tests/local's progress trials, where
    configurations far from q = 0.3 are plainly bad) scraped every second: the early-stopping
    panels show what its store holds, and the saved-compute estimate is the one metrics.py
    computes from those trials."""
    shutil.copy(ROOT / "tests" / "local" / "progress_trial.py", tmp_path / "progress_trial.py")
    study = tmp_path / "curves.yaml"
    study.write_text(yaml.safe_dump(progress_manifest("curves", args=["--step-seconds=0.15"])),
                     encoding="utf-8")
    began = time.time()
    process = subprocess.Popen(
        [sys.executable, "-m", "carbs_operator.cli", "run", str(study), "--state-dir",
         str(tmp_path / "state"), "--device", "cpu", "--metrics-port", str(metrics_port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, stderr = process.communicate(timeout=120)
    finally:
        stop(process)
    assert process.returncode == 0, stderr.decode()
    with TrialStore(tmp_path / "state" / "curves.db") as store:
        trials = store.trials()
    stopped = [t for t in trials if t.phase == TrialPhase.EARLY_STOPPED]
    assert stopped, [t.phase for t in trials]
    up = f'up{{job="{JOB}", instance="127.0.0.1:{metrics_port}"}}'
    wait_for(lambda: any(v == 0 for v in _values(prometheus.api("query", query=up)["result"])),
             10, "Prometheus to see the run end")
    scraped = prometheus.api("query_range", query=up, start=began, end=time.time(), step=1)
    last = max(float(t) for series in scraped["result"] for t, v in series["values"] if v == "1")
    values = {"namespace": "local", "study": "curves", "window": WINDOW}
    answers = {}
    for panel in panels(build_dashboard()):
        if panel["title"] in ("Trials stopped early", "Compute saved", "Trials finished"):
            expr = expand(panel["targets"][0]["expr"], **values)
            answers[panel["title"]] = prometheus.api("query", query=expr, time=last)["result"]
    # The last scrape may precede the run's last conclusions: the panels show the study as
    # it was after one of them (the trials concluded by then, the others still running).
    order = sorted((t for t in trials if t.finished_at is not None),
                   key=lambda t: t.finished_at or 0.0)
    states = [[t if t in order[:k] else replace(t, phase=TrialPhase.RUNNING, cost=None)
               for t in trials] for k in range(len(order) + 1)]
    [shown] = _values(answers["Compute saved"])
    [count] = _values(answers["Trials stopped early"])
    assert shown > 0
    assert any(shown == pytest.approx(saved_cost(state)) and
               count == sum(t.phase == TrialPhase.EARLY_STOPPED for t in state)
               for state in states), (shown, count)
    finished = {s["metric"]["outcome"]: _values([s])[0] for s in answers["Trials finished"]}
    assert finished["earlystopped"] == count
    assert finished["failed"] == 0
