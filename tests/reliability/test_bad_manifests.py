"""Bad study manifests, generated: refused by the CRD schema and by `carbs validate` with the
field named, and, on an emulator whose CRDs carry no schema (a cluster whose CRD predates
the operator's validation: it stores whatever it is sent), marked Invalid by the operator
without disturbing a valid study beside them.

The generator (tests/reliability/bad_manifests.py) draws one defect per manifest: a wrong
JSON type, a missing required field, min >= max, NaN or infinity, an integer beyond its
bound, an unknown space, a too-long study or parameter name, a non-ASCII parameter name.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import math
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from hypothesis import HealthCheck, given, settings

from carbs_operator.cli import main as carbs
from carbs_operator.crd import study_crd
from carbs_operator.validation import validate_manifest
from tests.k8s.conftest import carbs_operator, objective, study
from tests.operator.crd_harness import admission_errors
from tests.operator.manifest_cases import CONTAINER
from tests.reliability.bad_manifests import BadManifest, bad_manifests
from tests.reliability.support import all_in_phase, check_k8s_study, study_object, trial_objects
from tests.support.apiserver import CRD_DIR
from tests.support.emulator import Cluster, start_cluster
from tests.support.kubelet import SimulatedKubelet

STUDY_CRD = study_crd()


def names_field(lines: list[str], path: str) -> bool:
    """Whether a problem line names `path` (or a field inside it) as its field."""
    return any(line == path or line.startswith((f"{path}:", f"{path}.", f"{path}["))
               for line in lines)


@settings(max_examples=400, deadline=None)
@given(bad_manifests)
def test_generated_bad_manifests_are_refused_by_the_crd_and_validate(case: BadManifest) -> None:
    problems = [str(p) for p in validate_manifest(case.obj)]
    assert names_field(problems, case.path), problems
    assert admission_errors(case.obj, STUDY_CRD), "the CRD schema accepts it"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_manifests)
def test_generated_bad_manifests_fail_carbs_validate_naming_the_field(case: BadManifest) -> None:
    """The command itself, on the manifest written as YAML: exit 1, one line naming the field."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "study.yaml"
        path.write_text(yaml.safe_dump(case.obj), encoding="utf-8")
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = carbs(["validate", str(path)])
    assert code == 1, output.getvalue()
    assert names_field(output.getvalue().splitlines(), case.path), output.getvalue()


def _invalid(name: str, edit: Any, path: str) -> tuple[dict[str, Any], str]:
    body = study(name, budget={"maxTrials": 3, "maxFailedTrials": 1})
    edit(body)
    return body, path


def _param(index: int, **fields: Any) -> Any:
    return lambda body: body["spec"]["parameters"][index].update(fields)


# A handful of bodies a cluster without the CRD's validation would store (the emulator
# stores them as sent): each must end Invalid with the field named.
INVALID_BODIES = [
    _invalid("wrong-type", lambda b: b["spec"].update(parallelism="two"), "spec.parallelism"),
    _invalid("no-objective", lambda b: b["spec"].pop("objective"), "spec.objective"),
    _invalid("min-above-max", _param(1, min=0.9, max=0.1, searchCenter=None),
             "spec.parameters[1].min"),
    _invalid("nan-max", _param(0, max=math.nan), "spec.parameters[0].max"),
    _invalid("inf-min", _param(1, min=-math.inf), "spec.parameters[1].min"),
    _invalid("huge-trials", lambda b: b["spec"]["budget"].update(maxTrials=10**15),
             "spec.budget.maxTrials"),
    _invalid("unknown-space", _param(2, space="cubic"), "spec.parameters[2].space"),
    _invalid("unicode-name", _param(0, name="λr"), "spec.parameters[0].name"),
    _invalid("a-study-name-that-is-far-too-long-for-its-trial-job-names-to-fit",
             lambda b: None, "metadata.name"),
    # What the CRD itself cannot refuse: a placeholder naming no parameter.
    _invalid("undeclared-placeholder", lambda b: b["spec"]["trialTemplate"]["spec"]["template"][
        "spec"]["containers"][0].update(args=["--depth=${params.depth}"]), f"{CONTAINER}.args[0]"),
]


@pytest_asyncio.fixture
async def unvalidated_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """The project's CRDs with every schema replaced by "any object": the emulator (like
    such a cluster) admits bodies the current CRD would refuse, so only the operator's own
    checks stand between them and a trial."""
    paths = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            version["schema"] = {"openAPIV3Schema": {
                "type": "object", "x-kubernetes-preserve-unknown-fields": True}}
        (tmp_path / path.name).write_text(yaml.safe_dump(crd))
        paths.append(tmp_path / path.name)
    async with start_cluster(crd_paths=tuple(paths)) as running:
        yield running


async def test_invalid_studies_end_invalid_and_a_valid_one_beside_them_completes(
    unvalidated_cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    cluster = unvalidated_cluster
    async with SimulatedKubelet(cluster, objective) as kubelet:
        await _invalid_beside_valid(cluster, kubelet, caplog)


async def _invalid_beside_valid(
    cluster: Cluster, kubelet: SimulatedKubelet, caplog: pytest.LogCaptureFixture
) -> None:
    for body, _ in INVALID_BODIES:
        await cluster.create(body)
    await cluster.create(study("valid", budget={"maxTrials": 4, "maxFailedTrials": 1}))
    names = [body["metadata"]["name"] for body, _ in INVALID_BODIES]
    caplog.set_level(logging.WARNING)
    async with carbs_operator(cluster):
        await cluster.wait_for(lambda: all_in_phase(cluster, names, frozenset({"Invalid"})), 30,
                               what="every bad study Invalid")
        await cluster.wait_for(lambda: all_in_phase(cluster, ["valid"], frozenset({"Succeeded"})),
                               60, what="the valid study Succeeded")
    await check_k8s_study(cluster, kubelet, "valid")
    for body, path in INVALID_BODIES:
        name = body["metadata"]["name"]
        status = (await study_object(cluster, name))["status"]
        valid = next(c for c in status["conditions"] if c["type"] == "Valid")
        assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec"), name
        assert f"{path}:" in valid["message"], (name, valid["message"])
        assert await trial_objects(cluster, name) == [], name
    crashes = [r for r in caplog.records
               if r.name.startswith("carbs_operator") and r.levelno >= logging.ERROR]
    assert not crashes, [r.getMessage() for r in crashes]


async def test_an_unreadable_trial_holds_its_place_and_no_trial_is_created_beside_it(
    unvalidated_cluster: Cluster,
) -> None:
    """A CarbsTrial the operator cannot read (hand-edited; here its params are a string)
    still counts toward maxTrials and parallelism. Left out, every reconcile pass created
    one more trial beside it, without end."""
    cluster = unvalidated_cluster
    await cluster.create({
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsTrial",
        "metadata": {"name": "capped-0", "namespace": "default",
                     "labels": {"carbs.dev/study": "capped"}},
        "spec": {"index": 0, "study": "capped", "params": "not a mapping"},
    })
    await cluster.create(study("capped", budget={"maxTrials": 4}, parallelism=2))
    async with SimulatedKubelet(cluster, objective), carbs_operator(cluster):
        async def three_done() -> bool:
            trials = await trial_objects(cluster, "capped")
            done = [t for t in trials if (t.get("status") or {}).get("phase") == "Succeeded"]
            return len(done) == 3

        await cluster.wait_for(three_done, 60, what="three readable trials Succeeded")
        await asyncio.sleep(3)  # several more reconcile passes
        trials = await trial_objects(cluster, "capped")
    assert [t["spec"]["index"] for t in trials] == [0, 1, 2, 3]
