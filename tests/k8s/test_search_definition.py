"""Reported problem 1: a live edit silently rewrote the search, and a create answered with no
object put the reconcile loop in a crash loop.

- The API server refuses an edit of the objective, the cost, the parameters or the
  replay-relevant engine settings (CEL transition rules), naming what may change instead.
- On a cluster whose CRD is older (no such rules), the operator notices the edit from the
  signature stamped on the trials: Invalid with reason SearchChanged, no new trial, the best
  trial untouched; reverting the edit resumes the study.
- A trial create answered without the object never raises in the reconcile loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from carbs_operator.search_signature import SIGNATURE_ANNOTATION
from tests.k8s.conftest import GV, carbs_operator, get_study, objective, study, trials_of
from tests.support.apiserver import CRD_DIR, Emulator
from tests.support.emulator import ApiError, Cluster, start_cluster
from tests.support.kubelet import SimulatedKubelet


async def test_the_api_server_refuses_an_edit_of_the_search(cluster: Cluster) -> None:
    await cluster.create(study())
    edits: list[dict[str, Any]] = [
        {"objective": {"metric": "loss", "direction": "maximize"}},
        {"cost": {"metric": None, "source": "runtimeSeconds"}},
        {"parameters": study()["spec"]["parameters"][:2]},
        {"carbs": {"seed": 7}},
    ]
    for edit in edits:
        with pytest.raises(ApiError) as refused:
            await cluster.patch(GV, "carbsstudies", "default", "quad", {"spec": edit})
        assert refused.value.status == 422
        message = refused.value.body["message"]
        field = next(iter(edit))
        assert f'CarbsStudy.carbs.dev "quad" is invalid: spec.{field}' in message
        assert "is immutable" in message
        assert "Budget, parallelism, suspend" in message
    # What may change does.
    patched = await cluster.patch(GV, "carbsstudies", "default", "quad", {"spec": {
        "parallelism": 3, "suspend": True, "budget": {"maxTrials": 9, "maxFailedTrials": 3},
        "carbs": {"explorationBias": 0.5}}})
    assert patched["spec"]["parallelism"] == 3
    assert patched["metadata"]["generation"] == 2


def _without_transition_rules(node: Any) -> Any:
    """The CRD as an older release shipped it: no `self == oldSelf` rules."""
    if isinstance(node, dict):
        out = {k: _without_transition_rules(v) for k, v in node.items()}
        rules = [r for r in out.get("x-kubernetes-validations", []) if "oldSelf" not in r["rule"]]
        if "x-kubernetes-validations" in out:
            if rules:
                out["x-kubernetes-validations"] = rules
            else:
                del out["x-kubernetes-validations"]
        return out
    if isinstance(node, list):
        return [_without_transition_rules(v) for v in node]
    return node


@pytest_asyncio.fixture
async def old_crd_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    paths = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        crd = _without_transition_rules(yaml.safe_load(path.read_text()))
        target = tmp_path / path.name
        target.write_text(yaml.safe_dump(crd))
        paths.append(target)
    async with start_cluster(crd_paths=tuple(paths)) as running:
        yield running


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == kind)


async def test_an_edit_the_crd_let_through_marks_the_study_search_changed(
    old_crd_cluster: Cluster,
) -> None:
    cluster = old_crd_cluster
    async with SimulatedKubelet(cluster, objective) as kubelet:
        await cluster.create(study(budget={"maxTrials": 8, "maxFailedTrials": 3}))
        async with carbs_operator(cluster):
            async def some_finished() -> dict[str, Any] | None:
                obj = await get_study(cluster)
                best = (obj.get("status") or {}).get("bestTrial")
                done = (obj.get("status") or {}).get("trials", {}).get("succeeded", 0)
                return obj if best and done >= 3 else None

            await cluster.wait_for(some_finished, 60, what="3 trials finished")
            kubelet.pause()
            trials = await trials_of(cluster)
            assert all(SIGNATURE_ANNOTATION in t["metadata"]["annotations"] for t in trials)
            # The old CRD accepts the edit that turns the search upside down.
            await cluster.patch(GV, "carbsstudies", "default", "quad", {"spec": {
                "objective": {"metric": "loss", "direction": "maximize"}}})

            async def search_changed() -> dict[str, Any] | None:
                obj = await get_study(cluster)
                return obj if (obj.get("status") or {}).get("phase") == "Invalid" else None

            invalid = await cluster.wait_for(search_changed, 10, what="phase Invalid")
            valid = _condition(invalid, "Valid")
            assert (valid["status"], valid["reason"]) == ("False", "SearchChanged")
            assert "spec.objective changed after" in valid["message"]
            assert "Revert the edit" in valid["message"]
            count = len(await trials_of(cluster))
            kubelet.resume()  # the trials in flight finish meanwhile
            # Several resync periods (1 s) later: no trial created, the best trial untouched.
            for _ in range(3):
                await asyncio.sleep(1.0)
                obj = await get_study(cluster)
                assert len(await trials_of(cluster)) == count
                assert obj["status"]["bestTrial"] == invalid["status"]["bestTrial"]
                assert obj["status"]["phase"] == "Invalid"
            # Reverting the edit resumes the study.
            await cluster.patch(GV, "carbsstudies", "default", "quad", {"spec": {
                "objective": {"metric": "loss", "direction": "minimize"}}})

            async def succeeded() -> dict[str, Any] | None:
                obj = await get_study(cluster)
                return obj if (obj.get("status") or {}).get("phase") == "Succeeded" else None

            done = await cluster.wait_for(succeeded, 60, what="study Succeeded")
    assert _condition(done, "Valid")["reason"] == "SpecValid"
    assert done["status"]["trials"]["succeeded"] >= 8
    finished = [t for t in await trials_of(cluster) if t["status"]["phase"] == "Succeeded"]
    best = min(finished, key=lambda t: t["status"]["objective"])  # still minimized
    assert done["status"]["bestTrial"]["name"] == best["metadata"]["name"]


async def test_a_create_answered_without_the_object_is_no_crash_loop(
    cluster: Cluster, kubelet: SimulatedKubelet, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The reported AttributeError in record_from_object: the API server stored the trial
    but the answer carried no object (`null`)."""
    original = Emulator.create_object
    answered_empty: list[str] = []

    def create_without_answer(self: Emulator, kind: Any, namespace: str | None,
                              body: Any) -> Any:
        created = original(self, kind, namespace, body)
        if kind.plural == "carbstrials" and len(answered_empty) < 3:
            answered_empty.append(created["metadata"]["name"])
            return None
        return created

    monkeypatch.setattr(Emulator, "create_object", create_without_answer)
    kubelet.objective = objective
    caplog.set_level(logging.WARNING)
    await cluster.create(study())
    async with carbs_operator(cluster):
        async def succeeded() -> dict[str, Any] | None:
            obj = await get_study(cluster)
            return obj if (obj.get("status") or {}).get("phase") == "Succeeded" else None

        await cluster.wait_for(succeeded, 60, what="study Succeeded")
    assert len(answered_empty) == 3
    trials = await trials_of(cluster)
    assert [t["spec"]["index"] for t in trials] == list(range(6))
    assert all(t["status"]["phase"] == "Succeeded" for t in trials)
    failures = [r for r in caplog.records if "failed" in r.getMessage()
                and r.name.startswith("carbs_operator") and r.exc_info]
    assert failures == []
