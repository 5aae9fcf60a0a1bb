"""spec.earlyStopping on the emulator: the real operator reads each running trial's progress
from its pod's log, keeps the curve in the CarbsTrial's status, and stops the trials the rule
condemns by deleting their Jobs.

Simulated (cannot run here): the kubelet, whose trials print CARBS_PROGRESS lines over time
(tests/support/kubelet.py `Streamed`), exactly as carbs_operator.report_progress() prints
them; a Pod deleted mid-stream stops printing, as SIGTERM would end the trainer.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from carbs_operator.k8s.progress import TAIL_BYTES, TAIL_LINES
from carbs_operator.learning_curves import MARKER, MAX_CURVE_POINTS
from tests.k8s.conftest import carbs_operator, get_study, objective, study, trials_of
from tests.k8s.test_operator_flow import wait_phase
from tests.k8s.test_workload_kinds import ALL_KINDS, jobset_study
from tests.support.apiserver import Faults
from tests.support.emulator import Cluster
from tests.support.kubelet import PhaseDelays, Result, SimulatedKubelet, Streamed
from tests.support.workload_sim import SimulatedWorkloads, install_crds

STEPS = 12
STEP_SECONDS = 0.15


def progress(step: int, **metrics: float) -> str:
    """One line as report_progress(step, **metrics) prints it."""
    return MARKER + json.dumps({"step": step, **metrics}, separators=(",", ":")) + "\n"


def training(params: dict[str, float]) -> Result:
    """A trainer whose loss falls towards the quadratic objective's value over STEPS steps,
    reporting loss and cost (size x step) each step, then its result."""
    final = objective(params)
    lines = [(STEP_SECONDS, progress(step, loss=final["loss"] + 2.0 / (step + 1),
                                     cost=final["cost"] * (step + 1) / STEPS))
             for step in range(STEPS)]
    return Streamed(lines, final)


def stopping_study(name: str = "quad", **spec: Any) -> dict[str, Any]:
    spec.setdefault("budget", {"maxTrials": 8, "maxFailedTrials": 0})
    spec.setdefault("parallelism", 3)
    spec.setdefault("earlyStopping", {"rule": "Median", "minTrials": 2, "graceFraction": 0.25,
                                      "margin": 0.0})
    spec.setdefault("carbs", {"seed": 1, "numRandomSamples": 8})
    return study(name, **spec)


def _deletes(cluster: Cluster, plural: str) -> list[Any]:
    return [r for r in cluster.emulator._requests if r.method == "DELETE"
            and r.resource is not None and r.resource.plural == plural
            and "x-emulator-exempt" not in {k.lower() for k in r.headers}]


async def test_a_study_runs_to_its_budget_stopping_trials_early(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = training
    await cluster.create(stopping_study())
    async with carbs_operator(cluster):
        done = await wait_phase(cluster, "Succeeded", timeout=90)
    trials = await trials_of(cluster)
    phases = Counter(t["status"]["phase"] for t in trials)
    stopped = [t for t in trials if t["status"]["phase"] == "EarlyStopped"]
    assert len(trials) == 8
    assert phases["Failed"] == 0, phases
    assert stopped, phases
    status = done["status"]
    assert status["trials"]["earlyStopped"] == len(stopped)
    assert status["trials"]["succeeded"] + len(stopped) == 8
    assert status["progress"] == "8/8"  # stopped trials count toward maxTrials
    assert status["totalCost"] == sum(t["status"]["cost"] for t in trials)  # spent counts

    jobs = {j["metadata"]["name"] for j in await cluster.list("batch/v1", "jobs", "default")}
    for trial in stopped:
        name, trial_status = trial["metadata"]["name"], trial["status"]
        stop = trial_status["earlyStop"]
        assert stop["reason"].startswith("Median: best loss"), stop
        curve = trial_status["learningCurve"]
        assert 2 <= len(curve) <= STEPS
        assert stop["step"] == curve[-1]["step"]  # at the last point it reported
        assert trial_status["cost"] == stop["cost"] == curve[-1]["cost"]  # spent = so far
        assert trial_status["objective"] == stop["objective"]
        assert name not in jobs  # its Job is gone, and with it its pods
        assert await cluster.list("v1", "pods", "default",
                                  label_selector=f"carbs.dev/trial={name}") == []
    # Stopped while they ran (one whose last line was already printed may have ended in
    # the instant between the read and the delete), and so compute was saved: stopped trials
    # spent less than their full runs (cost = size).
    assert any(f"default/{t['metadata']['name']}" in kubelet.interrupted for t in stopped)
    assert any(t["status"]["cost"] < t["spec"]["params"]["size"] for t in stopped)
    # Deleted gracefully: pods go with the Job (Background) and keep their grace period.
    deletes = _deletes(cluster, "jobs")
    assert len(deletes) == len(stopped)
    for request in deletes:
        options = {**(request.data or {}), **request.params}
        assert options.get("propagationPolicy") == "Background"
        assert "gracePeriodSeconds" not in options
    for trial in trials:  # every curve bounded and in step order; succeeded ones whole
        curve = trial["status"].get("learningCurve") or []
        assert len(curve) <= MAX_CURVE_POINTS
        assert [p["step"] for p in curve] == sorted({p["step"] for p in curve})
        if trial["status"]["phase"] == "Succeeded":
            assert curve[-1]["step"] == STEPS - 1
    # Every log read was bounded, timestamped and a tail.
    reads = cluster.emulator.pod_logs.queries
    assert reads
    for query in reads:
        assert int(query["limitBytes"]) <= TAIL_BYTES
        assert 1 <= int(query["tailLines"]) <= TAIL_LINES
        assert query["timestamps"] == "true"


async def test_a_restart_between_the_stop_and_the_delete_finishes_the_stop_once(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    kubelet.objective = training
    await cluster.create(stopping_study())
    # The Job deletes fail: a stop is recorded on the trial, its Job left running.
    cluster.emulator.faults = Faults(error_rate=1.0, error_codes=(500,),
                                     methods=frozenset({"DELETE"}), path_pattern="/jobs/")

    async def recorded() -> list[dict[str, Any]] | None:
        stopped = [t for t in await trials_of(cluster)
                   if (t.get("status") or {}).get("phase") == "EarlyStopped"]
        return stopped or None

    async def announced(name: str) -> list[dict[str, Any]]:
        return [e for e in await cluster.list("v1", "events", "default")
                if e["reason"] == "TrialEarlyStopped" and f"trial {name}:" in e["message"]]

    async with carbs_operator(cluster):
        first = (await cluster.wait_for(recorded, 60, what="a trial stopped early"))[0]
        name = first["metadata"]["name"]
        await cluster.wait_for(lambda: announced(name), 10, what="its event")
    assert await cluster.get("batch/v1", "jobs", "default", name)  # still there
    cluster.emulator.faults = Faults()
    async with carbs_operator(cluster):
        await wait_phase(cluster, "Succeeded", timeout=90)
    trial = await cluster.get("carbs.dev/v1alpha1", "carbstrials", "default", name)
    assert trial["status"]["phase"] == "EarlyStopped"
    assert trial["status"]["earlyStop"] == first["status"]["earlyStop"]  # decided once
    assert name not in {j["metadata"]["name"]
                        for j in await cluster.list("batch/v1", "jobs", "default")}
    runs = Counter(kubelet.started_jobs)
    assert set(runs.values()) == {1}, runs  # no trial ran twice
    assert len(await announced(name)) == 1  # not stopped again by the second operator
    for other in await trials_of(cluster):  # curves read across the restart: no step twice
        steps = [p["step"] for p in other["status"].get("learningCurve") or []]
        assert steps == sorted(set(steps))
    status = (await get_study(cluster))["status"]
    assert status["trials"]["failed"] == 0
    assert status["progress"] == "8/8"


async def test_malformed_flooding_and_silent_progress_each_get_a_reason(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    """Five trials at once, each printing its progress badly in its own way; none is
    stopped (minTrials is out of reach), all succeed, and each status says what was wrong.
    The floods: 600 progress lines at once, and that followed by 2 MiB of other output."""
    junk = ("x" * 1000 + "\n") * 2048
    flood = "".join(progress(step, loss=1.0 / (step + 1), cost=1.0) for step in range(600))
    behaviours = {
        "malformed": [(0.2, progress(0, loss=3.0, cost=1.0)),
                      (0.2, MARKER + "{not json\n" + MARKER + '{"step": "x", "loss": 1}\n'),
                      (0.6, "")],
        "many": [(0.2, flood), (0.6, "")],
        "flooding": [(0.2, flood + junk), (0.6, "")],
        "silent": [(0.2, progress(0, loss=3.0, cost=1.0) + progress(1, loss=2.5, cost=2.0)),
                   (3.5, "")],
        "absent": [(0.2, "epoch 1 done\n"), (3.5, "epoch 2 done\n")],
    }
    given: dict[str, str] = {}

    def trainer(params: dict[str, float]) -> Result:
        kind = list(behaviours)[len(given)]
        given[json.dumps(params, sort_keys=True)] = kind
        return Streamed(behaviours[kind], objective(params))

    kubelet.objective = trainer
    await cluster.create(stopping_study(
        budget={"maxTrials": 5}, parallelism=5,
        earlyStopping={"rule": "Median", "minTrials": 10}))
    async with carbs_operator(cluster, silence_seconds=1.5):
        await wait_phase(cluster, "Succeeded", timeout=60)
    warnings = {}
    for trial in await trials_of(cluster):
        status = trial["status"]
        assert status["phase"] == "Succeeded", status
        kind = given[json.dumps(trial["spec"]["params"], sort_keys=True)]
        warnings[kind] = status.get("progressWarning", "")
        assert len(status.get("learningCurve") or []) <= MAX_CURVE_POINTS
        if kind == "many":  # the newest progress reached the curve, thinned
            curve = status["learningCurve"]
            assert (len(curve), curve[-1]["step"]) == (MAX_CURVE_POINTS, 599)
    assert "344 progress points in one read were thinned out" in warnings["many"]
    assert "2 malformed progress lines skipped (first: malformed progress line (not JSON" \
        in warnings["malformed"]
    assert "hold no progress line: other output drowns it" in warnings["flooding"], warnings
    assert re.search(r"no progress for over \d+ s since step 1; the trial is judged on",
                     warnings["silent"]), warnings["silent"]
    assert "no progress line in the first" in warnings["absent"]
    for query in cluster.emulator.pod_logs.queries:  # 2 MiB printed, never read at once
        assert int(query["limitBytes"]) <= TAIL_BYTES


async def test_a_jobset_trial_is_stopped_by_deleting_its_jobset_at_its_measured_cost(
    cluster: Cluster,
) -> None:
    """Any workload kind: two-pod JobSet trials (1 GPU each), cost measured in GPU-seconds,
    so each point's cost is both pods' GPU time when the line was printed."""
    await install_crds(cluster, "jobset")

    def loss_only(params: dict[str, float]) -> Result:
        final = objective(params)
        return Streamed([(STEP_SECONDS, progress(step, loss=final["loss"] + 2.0 / (step + 1)))
                         for step in range(STEPS)], final)

    body = jobset_study("ddp", cost={"source": "gpuSeconds"}, budget={"maxTrials": 6},
                        parallelism=3, carbs={"seed": 1, "numRandomSamples": 6},
                        earlyStopping={"rule": "Median", "minTrials": 2, "margin": 0.0})
    await cluster.create(body)
    async with SimulatedWorkloads(cluster, loss_only, delays=PhaseDelays(0.05, 0.05, 0.05)), \
            carbs_operator(cluster, trial_kinds=ALL_KINDS):
        done = await wait_phase(cluster, "Succeeded", name="ddp", timeout=90)
    trials = await trials_of(cluster, "ddp")
    stopped = [t for t in trials if t["status"]["phase"] == "EarlyStopped"]
    assert stopped, Counter(t["status"]["phase"] for t in trials)
    assert done["status"]["trials"]["earlyStopped"] == len(stopped)
    left = {j["metadata"]["name"]
            for j in await cluster.list("jobset.x-k8s.io/v1alpha2", "jobsets", "default")}
    for trial in stopped:
        name, status = trial["metadata"]["name"], trial["status"]
        assert name not in left
        costs = [p["cost"] for p in status["learningCurve"]]
        assert costs == sorted(costs)
        assert costs[0] > 0
        # Spent: both pods' GPU time up to the stop, at least that of its last point.
        assert costs[-1] <= status["cost"] <= 2 * (status["runtimeSeconds"] + 1)
    assert done["status"]["totalCost"] == pytest.approx(sum(t["status"]["cost"] for t in trials))


async def test_a_real_trainer_reports_progress_and_saves_on_sigterm(
    cluster: Cluster, kubelet: SimulatedKubelet, tmp_path: Path
) -> None:
    """Real processes (tests/k8s/progress_trainer.py) print progress with the SDK's
    report_progress; a stopped trial's pod is deleted, its process gets SIGTERM and saves."""
    shutil.copy(Path(__file__).parent / "progress_trainer.py", tmp_path / "trainer.py")
    kubelet.execute_in = tmp_path
    body = stopping_study(budget={"maxTrials": 6}, metricsCollector={"kind": "StdOut",
                                                                     "format": "JSON"})
    body["spec"]["trialTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] = \
        ["python", "trainer.py"]
    await cluster.create(body)
    async with carbs_operator(cluster):
        done = await wait_phase(cluster, "Succeeded", timeout=90)
    trials = await trials_of(cluster)
    stopped = [t for t in trials if t["status"]["phase"] == "EarlyStopped"]
    succeeded = [t for t in trials if t["status"]["phase"] == "Succeeded"]
    assert stopped, Counter(t["status"]["phase"] for t in trials)
    assert len(stopped) + len(succeeded) == 6 == done["status"]["trials"]["total"]
    logs = cluster.emulator.pod_logs.texts
    for trial in succeeded:  # the result from the JSON line, not from a progress line
        params = trial["spec"]["params"]
        assert trial["status"]["cost"] == params["size"]
        assert trial["status"]["learningCurve"][-1]["step"] == STEPS - 1
    saved = [trial for trial in stopped
             if any(pod.startswith(f"{trial['metadata']['name']}-") and
                    "checkpoint saved" in text for (_, pod, _), text in logs.items())]
    assert saved, "a stopped trial's process got SIGTERM and saved"
    # The kubelet records the interruption once the SIGTERMed process has exited, a moment
    # after its last words reach the log: wait for it rather than race it.
    jobs = [f"default/{trial['metadata']['name']}" for trial in saved]
    await cluster.wait_for(lambda: all(job in kubelet.interrupted for job in jobs), 30,
                           what=f"{jobs} recorded as interrupted")


async def test_without_rights_to_read_logs_trials_run_on_saying_why(
    cluster: Cluster, kubelet: SimulatedKubelet
) -> None:
    """The chart grants get on pods/log only while StdOut is in its metricsCollectors: with
    the log forbidden (403), no trial is stopped or failed, and each says why it is not
    judged."""
    kubelet.objective = training
    cluster.emulator.faults = Faults(error_rate=1.0, error_codes=(403,),
                                     methods=frozenset({"GET"}), path_pattern="/log$")
    await cluster.create(stopping_study(budget={"maxTrials": 4}))
    async with carbs_operator(cluster):
        await wait_phase(cluster, "Succeeded", timeout=60)
    for trial in await trials_of(cluster):
        status = trial["status"]
        assert status["phase"] == "Succeeded"
        assert status["progressWarning"].startswith(
            "progress cannot be read: cannot read the log of pod ")
        assert "forbidden (the operator needs get on pods/log" in status["progressWarning"]
        assert "learningCurve" not in status or status["learningCurve"] == []
