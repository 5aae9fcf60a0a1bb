"""The README's cluster walkthrough, driven by the real `kubectl` (Debian's package).

The API emulator stands in for the API server, the simulated kubelet for the Job controller
and the kubelet (neither can run here); everything else is what a user runs: `kubectl`
against a kubeconfig, `carbs operator -n default` as a process, the shipped example
manifest. Each step asserts on what the user sees.

Reproduces reported problem 2: `kubectl wait --for=condition=Complete` succeeded on a study
that failed.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from tests.support.emulator import Cluster, start_cluster
from tests.support.kubelet import PhaseDelays, Result, SimulatedKubelet
from tests.support.operator_process import CarbsOperator

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "digits-mlp" / "study-cluster.yaml"
KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is missing: `make test` installs Debian's kubectl package")


def digits(params: dict[str, float]) -> Result:
    """A stand-in for train.py: best near lr=1e-2, width=64; cost is measured (GPU-seconds)."""
    loss = (math.log10(params["lr"]) + 2) ** 2 + (math.log2(params["width"]) - 6) ** 2 / 10
    return {"val_loss": 0.05 + loss}


def crashing(params: dict[str, float]) -> Result:
    return RuntimeError("CUDA error: out of memory")


class Kubectl:
    """`kubectl` with the test's kubeconfig, run off the event loop (the emulator is on it)."""

    def __init__(self, kubeconfig: Path, cwd: Path) -> None:
        self.kubeconfig = kubeconfig
        self.cwd = cwd

    async def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(KUBECTL), "--kubeconfig", str(self.kubeconfig), *args]
        done = await asyncio.to_thread(subprocess.run, command, cwd=self.cwd,
                                       capture_output=True, text=True, timeout=180)
        if ok:
            assert done.returncode == 0, f"{' '.join(args)}: {done.stderr}"
            assert "Warning" not in done.stderr, done.stderr
        return done


@pytest_asyncio.fixture
async def empty_cluster() -> AsyncIterator[Cluster]:
    """An API server with no carbs CRDs yet: the walkthrough applies them."""
    async with start_cluster(crd_paths=()) as running:
        yield running


def _table(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines()]


async def test_the_readme_walkthrough_with_kubectl(empty_cluster: Cluster, tmp_path: Path) -> None:
    cluster = empty_cluster
    kubectl = Kubectl(cluster.kubeconfig(tmp_path / "kubeconfig"), REPO)

    # Install the CRDs (the Helm chart does this from the same files).
    applied = await kubectl("apply", "-f", "crds/")
    assert applied.stdout.splitlines() == [
        "customresourcedefinition.apiextensions.k8s.io/carbsstudies.carbs.dev created",
        "customresourcedefinition.apiextensions.k8s.io/carbstrials.carbs.dev created",
    ]
    # What `kubectl explain` says about a field comes from the CRD schema.
    explained = (await kubectl("explain", "carbsstudy.spec.objective")).stdout
    assert "KIND:       CarbsStudy" in explained
    assert "Immutable" in explained
    assert "direction\t<string> -required-" in explained
    assert "enum: minimize, maximize" in explained

    delays = PhaseDelays(pending=0.05, running=1.2, finishing=0.05)  # cost: >= 1 GPU-second
    async with SimulatedKubelet(cluster, digits, delays=delays) as kubelet:
        async with CarbsOperator(cluster, tmp_path, ["-n", "default"]) as operator:
            # Apply the shipped example, as is.
            created = await kubectl("apply", "-f", str(EXAMPLE.relative_to(REPO)))
            assert created.stdout.strip() == "carbsstudy.carbs.dev/digits-mlp created"
            await _wait_phase(cluster, "digits-mlp", "Running")
            # No trial ends until the study is suspended: the budget edit below expects
            # fewer than 6 trials to exist by then, however slow kubectl runs here.
            kubelet.pause()
            rows = _table((await kubectl("get", "cstudy", "digits-mlp")).stdout)
            assert rows[0] == ["NAME", "PHASE", "DONE", "RUNNING", "BEST", "TOTAL-COST", "AGE"]
            assert rows[1][:2] == ["digits-mlp", "Running"]
            assert rows[1][2].endswith("/100")

            # Live edits: suspend and parallelism, then the budget.
            patched = await kubectl("patch", "cstudy", "digits-mlp", "--type", "merge", "-p",
                                    '{"spec":{"suspend":true,"parallelism":2}}')
            assert patched.stdout.strip() == "carbsstudy.carbs.dev/digits-mlp patched"
            await _wait_phase(cluster, "digits-mlp", "Suspended")
            kubelet.resume()
            rows = _table((await kubectl("get", "cstudy", "digits-mlp")).stdout)
            assert rows[1][1] == "Suspended"

            # An edit of the search itself is refused, saying what may change.
            refused = await kubectl("patch", "cstudy", "digits-mlp", "--type", "merge", "-p",
                                    '{"spec":{"objective":{"direction":"maximize"}}}', ok=False)
            assert refused.returncode == 1
            assert refused.stderr.startswith(
                'The CarbsStudy "digits-mlp" is invalid: spec.objective: Invalid value: '
                '"object": objective is immutable')
            assert "Budget, parallelism, suspend" in refused.stderr
            direction = await kubectl("get", "cstudy", "digits-mlp", "-o",
                                      "jsonpath={.spec.objective.direction}")
            assert direction.stdout == "minimize"

            await kubectl("patch", "cstudy", "digits-mlp", "--type", "merge", "-p",
                          '{"spec":{"suspend":false,"budget":{"maxTrials":6}}}')
            waited = await kubectl("wait", "--for=condition=Complete", "cstudy/digits-mlp",
                                   "--timeout=120s")
            assert waited.stdout.strip() == "carbsstudy.carbs.dev/digits-mlp condition met"
            rows = _table((await kubectl("get", "cstudy", "digits-mlp")).stdout)
            assert rows[1][1:3] == ["Succeeded", "6/6"]
            trials = _table((await kubectl("get", "ctrial", "-l",
                                           "carbs.dev/study=digits-mlp")).stdout)
            assert trials[0] == ["NAME", "STUDY", "INDEX", "PHASE", "OBJECTIVE", "COST", "AGE"]
            assert sum(row[3] == "Succeeded" for row in trials[1:]) == 6
            described = (await kubectl("describe", "cstudy", "digits-mlp")).stdout
            for expected in ("Phase:", "Succeeded", "Pareto Frontier:", "Best Trial:",
                             "Type:", "Complete", "Events:", "TrialSucceeded",
                             "carbs-operator"):
                assert expected in described, expected

            # A study that fails: Failed, and `wait` for Complete does not succeed on it.
            kubelet.objective = crashing
            broken = yaml.safe_load(EXAMPLE.read_text())
            broken["metadata"]["name"] = "digits-broken"
            broken["spec"]["budget"]["maxFailedTrials"] = 1
            manifest = tmp_path / "broken.yaml"
            manifest.write_text(yaml.safe_dump(broken))
            await kubectl("apply", "-f", str(manifest))
            failed = await kubectl("wait", "--for=condition=Failed", "cstudy/digits-broken",
                                   "--timeout=120s")
            assert failed.stdout.strip() == "carbsstudy.carbs.dev/digits-broken condition met"
            not_complete = await kubectl("wait", "--for=condition=Complete",
                                         "cstudy/digits-broken", "--timeout=2s", ok=False)
            assert not_complete.returncode != 0
            assert "timed out waiting for the condition" in not_complete.stderr
            rows = _table((await kubectl("get", "cstudy")).stdout)
            assert {row[0]: row[1] for row in rows[1:]} == {
                "digits-broken": "Failed", "digits-mlp": "Succeeded"}

            # Deleting a study deletes its trials and their Jobs (owner references).
            deleted = await kubectl("delete", "cstudy", "digits-mlp")
            assert deleted.stdout.strip() == 'carbsstudy.carbs.dev "digits-mlp" deleted'
            for kind in ("ctrial", "jobs"):
                left = await kubectl("get", kind, "-l", "carbs.dev/study=digits-mlp")
                assert left.stdout == ""
                assert left.stderr.strip() == "No resources found in default namespace."
            remaining = _table((await kubectl("get", "ctrial")).stdout)
            assert {row[1] for row in remaining[1:]} == {"digits-broken"}
        assert "study default/digits-mlp: completed" in operator.output()
        assert "study default/digits-broken: failed" in operator.output()


async def _wait_phase(cluster: Cluster, name: str, phase: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        obj = await cluster.find("carbs.dev/v1alpha1", "carbsstudies", "default", name)
        return obj if obj and (obj.get("status") or {}).get("phase") == phase else None

    return await cluster.wait_for(reached, 60, what=f"{name} {phase}")
