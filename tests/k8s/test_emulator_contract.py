"""The contract of the test-support layer: what the operator's integration tests may rely on.

Everything goes through real HTTP on 127.0.0.1: the real ``kubernetes`` client (in a worker
thread, never on the emulator's loop), the async helpers, and the real kopf operator. Each
check names the real API server behaviour it stands for; if one fails after an upgrade of kmock,
kopf or the client, the emulator no longer carries the operator's tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import kopf
import kubernetes
import pytest
from kubernetes import client
from kubernetes.client import ApiException

from tests.k8s.conftest import study as valid_study
from tests.support import fixtures
from tests.support.apiserver import KMOCK_VERSION, Faults
from tests.support.emulator import ApiError, Cluster, start_cluster
from tests.support.kopf_harness import run_operator
from tests.support.kubelet import RESULT_ANNOTATION, Result, SimulatedKubelet

cluster = fixtures.cluster
kubelet = fixtures.kubelet

T = TypeVar("T")
STUDIES = ("carbs.dev/v1alpha1", "carbsstudies")
NS = "default"


async def blocking(cluster: Cluster, call: Callable[[client.ApiClient], T]) -> T:
    """Run a blocking-client call in a worker thread (the emulator serves from this loop)."""
    def run() -> T:
        with cluster.api_client() as api:
            return call(api)
    return await asyncio.to_thread(run)


def study(name: str, **spec: Any) -> dict[str, Any]:
    """A schema-valid study (the emulator admits custom resources as a real server does)."""
    body = valid_study(name, **{"parallelism": 1, **spec})
    return {**body, "metadata": {"name": name}}


def trial_job(name: str, params: dict[str, float] | None, *, backoff_limit: int = 0,
              **spec: Any) -> dict[str, Any]:
    env = [] if params is None else [{"name": "CARBS_PARAMS", "value": json.dumps(params)}]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {"carbs.dev/study": "s"}},
            "spec": {"backoffLimit": backoff_limit, **spec, "template": {
                "metadata": {"labels": {"carbs.dev/trial": name}},
                "spec": {"restartPolicy": "Never", "containers": [
                    {"name": "trial", "image": "trial:1", "env": env}]}}}}


def test_the_pinned_kmock_is_the_installed_one() -> None:
    import kmock

    assert kmock.__version__ == KMOCK_VERSION


async def test_metadata_uid_timestamps_versions_generation(cluster: Cluster) -> None:
    created = await blocking(cluster, lambda api: client.CustomObjectsApi(api)
                             .create_namespaced_custom_object("carbs.dev", "v1alpha1", NS,
                                                              "carbsstudies", study("s")))
    meta = created["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    first_rv = int(meta["resourceVersion"])

    labelled = await cluster.patch(*STUDIES, NS, "s", {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1  # metadata is not spec
    assert int(labelled["metadata"]["resourceVersion"]) > first_rv
    status = await cluster.patch(*STUDIES, NS, "s", {"status": {"phase": "Running"}},
                                 subresource="status")
    assert status["metadata"]["generation"] == 1  # neither is status
    changed = await cluster.patch(*STUDIES, NS, "s", {"spec": {"parallelism": 3}})
    assert changed["metadata"]["generation"] == 2
    assert changed["metadata"]["uid"] == meta["uid"]
    assert changed["metadata"]["creationTimestamp"] == meta["creationTimestamp"]

    # One global counter, increasing on every write, across objects and resources.
    other = await cluster.create({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "cm"}})
    assert int(other["metadata"]["resourceVersion"]) > int(changed["metadata"]["resourceVersion"])
    # A no-op write is no write: same version, no event.
    same = await cluster.patch(*STUDIES, NS, "s", {"spec": {"parallelism": 3}})
    assert same["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]


async def test_duplicate_create_is_409_already_exists(cluster: Cluster) -> None:
    await cluster.create(study("s"))
    with pytest.raises(ApiException) as caught:
        await blocking(cluster, lambda api: client.CustomObjectsApi(api)
                       .create_namespaced_custom_object("carbs.dev", "v1alpha1", NS,
                                                        "carbsstudies", study("s")))
    assert caught.value.status == 409
    status = json.loads(caught.value.body)
    assert status["kind"] == "Status"
    assert status["reason"] == "AlreadyExists"
    assert status["details"]["name"] == "s"


async def test_status_is_a_separate_subresource(cluster: Cluster) -> None:
    await cluster.create(study("s"))
    api_group = ("carbs.dev", "v1alpha1", NS, "carbsstudies", "s")

    # Main resource: status changes are ignored (merge patch and PUT alike).
    patched = await blocking(cluster, lambda api: client.CustomObjectsApi(api)
                             .patch_namespaced_custom_object(
                                 *api_group, {"spec": {"parallelism": 2},
                                              "status": {"phase": "Running"}}))
    assert patched["spec"]["parallelism"] == 2
    assert "status" not in patched
    # /status: only status changes.
    patched = await blocking(cluster, lambda api: client.CustomObjectsApi(api)
                             .patch_namespaced_custom_object_status(
                                 *api_group, {"spec": {"parallelism": 5},
                                              "status": {"phase": "Running"}}))
    assert patched["spec"]["parallelism"] == 2
    assert patched["status"]["phase"] == "Running"
    replaced = dict(patched, spec={**patched["spec"], "parallelism": 4},
                    status={"phase": "Failed"})
    replaced = await blocking(cluster, lambda api: client.CustomObjectsApi(api)
                              .replace_namespaced_custom_object(*api_group, replaced))
    assert replaced["spec"]["parallelism"] == 4
    assert replaced["status"]["phase"] == "Running"
    # A JSON patch on /status cannot touch the spec either.
    patched = await cluster.patch(*STUDIES, NS, "s", [
        {"op": "replace", "path": "/spec/parallelism", "value": 9},
        {"op": "replace", "path": "/status/phase", "value": "Succeeded"}], subresource="status")
    assert patched["spec"]["parallelism"] == 4
    assert patched["status"]["phase"] == "Succeeded"
    # Status given at creation is dropped, as the real server does for such resources.
    created = await cluster.create({**study("t"), "status": {"phase": "Running"}})
    assert "status" not in created
    # Resources without the subresource answer 404 on /status.
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    with pytest.raises(ApiError) as caught:
        await cluster.patch("v1", "configmaps", NS, "c", {"status": {}}, subresource="status")
    assert caught.value.status == 404


async def test_json_patch_test_op_and_version_conflicts(cluster: Cluster) -> None:
    created = await cluster.create(study("s"))
    version = created["metadata"]["resourceVersion"]
    patched = await cluster.patch(*STUDIES, NS, "s", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version},
        {"op": "add", "path": "/metadata/finalizers", "value": ["x/y"]}])
    assert patched["metadata"]["finalizers"] == ["x/y"]

    # A failed "test" op is 422 Unprocessable Entity, as on a real server (kopf relies on it).
    with pytest.raises(ApiError) as caught:
        await cluster.patch(*STUDIES, NS, "s", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": version},
            {"op": "remove", "path": "/metadata/finalizers"}])
    assert caught.value.status == 422
    # A stale resourceVersion in a merge patch or a PUT is 409 Conflict.
    with pytest.raises(ApiError) as caught:
        await cluster.patch(*STUDIES, NS, "s", {"metadata": {"resourceVersion": version},
                                                "spec": {"parallelism": 7}})
    assert caught.value.status == 409
    assert caught.value.reason == "Conflict"
    with pytest.raises(ApiException) as raised:
        await blocking(cluster, lambda api: client.CustomObjectsApi(api)
                       .replace_namespaced_custom_object("carbs.dev", "v1alpha1", NS,
                                                         "carbsstudies", "s", created))
    assert raised.value.status == 409
    # The typed client sends dicts as strategic merge patches: fine for built-ins, 415 for
    # custom resources, as on a real cluster.
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    cm = await blocking(cluster, lambda api: client.CoreV1Api(api)
                        .patch_namespaced_config_map("c", NS, {"data": {"k": "v"}}))
    assert cm.data == {"k": "v"}
    with pytest.raises(ApiError) as caught:
        await cluster.request("PATCH", "/apis/carbs.dev/v1alpha1/namespaces/default/"
                              "carbsstudies/s", body={"spec": {}},
                              content_type="application/strategic-merge-patch+json")
    assert caught.value.status == 415


async def test_put_generate_name_and_delete_collection(cluster: Cluster) -> None:
    def run(api: client.ApiClient) -> tuple[str, str, list[str]]:
        v1 = client.CoreV1Api(api)
        generated = v1.create_namespaced_config_map(NS, {"metadata": {
            "generateName": "cfg-", "labels": {"app": "x"}}, "data": {"a": "1"}})
        generated.data = {"a": "2"}
        replaced = v1.replace_namespaced_config_map(generated.metadata.name, NS, generated)
        v1.create_namespaced_config_map(NS, {"metadata": {"name": "keep"}})
        v1.delete_collection_namespaced_config_map(NS, label_selector="app=x")
        left = [cm.metadata.name for cm in v1.list_namespaced_config_map(NS).items]
        return generated.metadata.name, replaced.data["a"], left

    name, value, left = await blocking(cluster, run)
    assert name.startswith("cfg-")
    assert len(name) == len("cfg-") + 5
    assert value == "2"
    assert left == ["keep"]


async def test_label_and_field_selectors(cluster: Cluster) -> None:
    await cluster.create_namespace("other")
    for name, labels, namespace in [("a", {"tier": "x", "study": "s"}, NS),
                                    ("b", {"tier": "y"}, NS), ("c", {"tier": "z"}, NS),
                                    ("d", {"tier": "x"}, "other")]:
        await cluster.create({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": name, "namespace": namespace,
                                           "labels": labels}})

    def names(api: client.ApiClient, **selectors: str) -> list[str]:
        items = client.CoreV1Api(api).list_config_map_for_all_namespaces(**selectors).items
        return sorted(item.metadata.name for item in items)

    cases = {
        "tier=x": ["a", "d"], "tier==x": ["a", "d"], "tier!=x": ["b", "c"], "study": ["a"],
        "!study": ["b", "c", "d"], "tier in (x,y)": ["a", "b", "d"], "tier notin (x, y)": ["c"],
        "tier=x,study": ["a"],
    }
    for selector, expected in cases.items():
        assert await blocking(cluster, lambda api, s=selector: names(api, label_selector=s)) \
            == expected, selector
    assert await blocking(cluster, lambda api: names(api, field_selector="metadata.name=b")) \
        == ["b"]
    assert await blocking(cluster, lambda api: names(
        api, field_selector="metadata.namespace=other")) == ["d"]
    assert await blocking(cluster, lambda api: names(
        api, field_selector="metadata.namespace!=other", label_selector="tier=x")) == ["a"]


async def test_kubeconfig_and_loopback_address(cluster: Cluster, tmp_path: Path) -> None:
    assert cluster.url.startswith("http://127.0.0.1:")
    path = cluster.kubeconfig(tmp_path / "kubeconfig")

    def run() -> list[str]:  # what a subprocess operator with KUBECONFIG=path would do
        configuration = client.Configuration()
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(path), client_configuration=configuration)
        with client.ApiClient(configuration) as api:
            return [ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items]

    assert await asyncio.to_thread(run) == ["default"]


async def test_namespaces_are_listable_and_cluster_scoped(cluster: Cluster) -> None:
    def run(api: client.ApiClient) -> list[str]:
        v1 = client.CoreV1Api(api)
        v1.create_namespace({"metadata": {"name": "team-a"}})
        assert v1.read_namespace("team-a").status.phase == "Active"
        return sorted(ns.metadata.name for ns in v1.list_namespace().items)

    assert await blocking(cluster, run) == ["default", "team-a"]


async def test_watch_events_and_server_timeout(cluster: Cluster) -> None:
    events: list[tuple[str, str, str | None]] = []
    listening = threading.Event()

    def watch(api: client.ApiClient) -> float:
        started = time.monotonic()
        stream = kubernetes.watch.Watch().stream(  # type: ignore[no-untyped-call]
            client.CoreV1Api(api).list_namespaced_config_map, NS, timeout_seconds=1)
        listening.set()
        for event in stream:
            obj = event["object"]
            events.append((event["type"], obj.metadata.name, obj.metadata.namespace))
        return time.monotonic() - started

    watching = asyncio.create_task(blocking(cluster, watch))
    await asyncio.to_thread(listening.wait, 5)
    await asyncio.sleep(0.1)
    # Created without metadata.namespace in the body: the namespace comes from the URL.
    await cluster.request("POST", "/api/v1/namespaces/default/configmaps",
                          body={"metadata": {"name": "w"}})
    await cluster.patch("v1", "configmaps", NS, "w", {"data": {"k": "v"}})
    await cluster.delete("v1", "configmaps", NS, "w")
    elapsed = await watching
    assert events == [("ADDED", "w", NS), ("MODIFIED", "w", NS), ("DELETED", "w", NS)]
    assert 0.9 < elapsed < 3.0  # the server ended the stream at timeoutSeconds


async def test_watch_resumes_from_a_version_and_follows_selectors(cluster: Cluster) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w", "labels": {}}}
    created = await cluster.create(cm)
    await cluster.patch("v1", "configmaps", NS, "w", {"metadata": {"labels": {"pick": "me"}}})
    await cluster.patch("v1", "configmaps", NS, "w", {"metadata": {"labels": {"pick": None}}})
    since = created["metadata"]["resourceVersion"]
    replayed = [(event["type"], event["object"]["metadata"].get("labels"))
                async for event in cluster.watch("v1", "configmaps", NS, label_selector="pick",
                                                 resource_version=since, timeout=0.2)]
    # Entering the selection is ADDED, leaving it is DELETED, as the watch cache does.
    assert replayed == [("ADDED", {"pick": "me"}), ("DELETED", {})]


async def test_garbage_collection_follows_owner_references(cluster: Cluster) -> None:
    def owned_by(obj: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"apiVersion": obj["apiVersion"], "kind": obj["kind"],
                 "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"]}]

    owner = await cluster.create(study("owner"))
    job = await cluster.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {
        "name": "j", "ownerReferences": owned_by(owner)}, "spec": {}})
    pod = await cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "ownerReferences": owned_by(job)}, "spec": {}})
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "grandchild", "ownerReferences": owned_by(pod)}})
    other = await cluster.create(study("other"))
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "shared", "ownerReferences": owned_by(owner) + owned_by(other)}})

    await cluster.delete(*STUDIES, NS, "owner")
    assert await cluster.find("batch/v1", "jobs", NS, "j") is None
    assert await cluster.find("v1", "pods", NS, "p") is None
    assert await cluster.find("v1", "configmaps", NS, "grandchild") is None
    shared = await cluster.get("v1", "configmaps", NS, "shared")  # another owner is alive
    assert [ref["name"] for ref in shared["metadata"]["ownerReferences"]] == ["other"]

    # batch/v1 Jobs orphan their Pods unless told otherwise (and the server warns about it).
    job = await cluster.create({"apiVersion": "batch/v1", "kind": "Job",
                                "metadata": {"name": "j2"}, "spec": {}})
    await cluster.create({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p2", "ownerReferences": owned_by(job)}, "spec": {}})
    await blocking(cluster, lambda api: client.BatchV1Api(api).delete_namespaced_job("j2", NS))
    orphan = await cluster.get("v1", "pods", NS, "p2")
    assert "ownerReferences" not in orphan["metadata"]

    # A dependent created after its only owner was deleted is collected too.
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "late", "ownerReferences": owned_by(owner)}})
    assert await cluster.find("v1", "configmaps", NS, "late") is None


async def test_finalizers_hold_deletion_until_emptied(cluster: Cluster) -> None:
    owner = await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "held", "finalizers": ["example.com/hold"]}})
    await cluster.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "child", "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap",
                                              "name": "held", "uid": owner["metadata"]["uid"]}]}})
    await cluster.delete("v1", "configmaps", NS, "held")
    held = await cluster.get("v1", "configmaps", NS, "held")
    assert held["metadata"]["deletionTimestamp"]
    assert await cluster.find("v1", "configmaps", NS, "child") is not None
    with pytest.raises(ApiError) as caught:  # no new finalizers on an object being deleted
        await cluster.patch("v1", "configmaps", NS, "held",
                            {"metadata": {"finalizers": ["example.com/hold", "more"]}})
    assert caught.value.status == 422

    await cluster.patch("v1", "configmaps", NS, "held", {"metadata": {"finalizers": None}})
    assert await cluster.find("v1", "configmaps", NS, "held") is None
    assert await cluster.find("v1", "configmaps", NS, "child") is None


async def test_discovery_lists_what_the_operator_needs(cluster: Cluster) -> None:
    core = await cluster.request("GET", "/api/v1/")  # trailing slashes are fine
    assert {"pods", "pods/status", "events", "namespaces", "configmaps"} <= \
        {resource["name"] for resource in core["resources"]}
    groups = await cluster.request("GET", "/apis")
    assert {"carbs.dev", "batch", "kopf.dev", "events.k8s.io"} <= \
        {group["name"] for group in groups["groups"]}
    carbs = await cluster.request("GET", "/apis/carbs.dev/v1alpha1")
    by_name = {resource["name"]: resource for resource in carbs["resources"]}
    assert by_name["carbsstudies"]["kind"] == "CarbsStudy"
    assert by_name["carbsstudies"]["namespaced"] is True
    assert {"carbsstudies/status", "carbstrials", "carbstrials/status"} <= set(by_name)
    peerings = await cluster.request("GET", "/apis/kopf.dev/v1")
    assert {resource["name"]: resource["namespaced"] for resource in peerings["resources"]} == \
        {"clusterkopfpeerings": False, "kopfpeerings": True}
    # The client's own discovery (DynamicClient) finds the custom resources.
    dynamic = await blocking(cluster, lambda api: kubernetes.dynamic.DynamicClient(  # type: ignore[no-untyped-call]
                                 api)
                             .resources.get(api_version="carbs.dev/v1alpha1", kind="CarbsTrial"))
    assert dynamic.name == "carbstrials"


async def test_custom_resources_are_pruned_and_defaulted_by_their_schema(cluster: Cluster) -> None:
    created = await cluster.create(study("s", parallelism=2, bogus=1))
    assert "bogus" not in created["spec"]  # pruned, as apiextensions/v1 always does
    assert created["spec"]["suspend"] is False  # a declared default
    patched = await cluster.patch(*STUDIES, NS, "s", {"status": {"phase": "Running",
                                                                 "undeclared": 1}},
                                  subresource="status")
    assert patched["status"]["phase"] == "Running"
    assert "undeclared" not in patched["status"]


async def test_fault_injection(cluster: Cluster) -> None:
    # 500 carries no Retry-After; injected 429/503 do, and the client then retries them.
    cluster.emulator.faults = Faults(error_rate=1.0, error_codes=(500,), path_pattern="configmaps")
    with pytest.raises(ApiException) as caught:
        await blocking(cluster, lambda api: client.CoreV1Api(api).list_namespaced_config_map(NS))
    assert caught.value.status == 500
    assert await cluster.list("v1", "configmaps", NS) == []  # the helpers are exempt
    cluster.emulator.faults = Faults()
    # Deterministic faults: kmock's reaction DSL still overrides the emulator. (A slice
    # counts every request to the path so far, this one included.)
    cluster.emulator["get /api/v1/namespaces/default/secrets"][:1] << 409
    with pytest.raises(ApiException) as caught:
        await blocking(cluster, lambda api: client.CoreV1Api(api).list_namespaced_secret(NS))
    assert caught.value.status == 409
    assert await blocking(cluster, lambda api: client.CoreV1Api(api)
                          .list_namespaced_secret(NS).items) == []
    # Dropping watch streams: the stream just ends, clients must resume.
    stream = cluster.watch("v1", "configmaps", NS)
    watching = asyncio.create_task(anext(stream, None))
    await asyncio.sleep(0.05)
    cluster.emulator.drop_watches()
    assert await asyncio.wait_for(watching, 2) is None


async def test_too_old_versions_are_410_gone() -> None:
    async with start_cluster() as small:
        small.emulator._log = type(small.emulator._log)(maxlen=2)
        for index in range(4):
            await small.create({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": f"c{index}"}})
        events = [event async for event in small.watch("v1", "configmaps", NS,
                                                       resource_version="1", timeout=1)]
        assert [(event["type"], event["object"]["code"]) for event in events] == [("ERROR", 410)]


@pytest.mark.parametrize("standalone", [True, False], ids=["standalone", "peering"])
async def test_a_real_kopf_operator_runs_its_create_handler_end_to_end(
        cluster: Cluster, kubelet: SimulatedKubelet, standalone: bool) -> None:
    registry = kopf.OperatorRegistry()
    deleted: list[str] = []

    @kopf.on.create("carbs.dev", "v1alpha1", "carbsstudies", registry=registry)
    def create_trial(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
        job = trial_job(f"{body.metadata.name}-0", {"x": 3.0})
        kopf.adopt(job, owner=body)  # ownerReferences with the study's uid
        with cluster.api_client() as api:  # a sync handler runs in kopf's worker thread
            client.BatchV1Api(api).create_namespaced_job(NS, job)  # type: ignore[arg-type]
        patch.status["phase"] = "Running"

    @kopf.on.delete("carbs.dev", "v1alpha1", "carbsstudies", registry=registry)
    def forget(name: str, **_: Any) -> None:
        deleted.append(name)

    if not standalone:
        await cluster.create_peering(NS)
    async with run_operator(cluster, registry, namespaces=[NS], standalone=standalone):
        await cluster.create(study("s"))

        async def running() -> dict[str, Any] | None:
            obj = await cluster.get(*STUDIES, NS, "s")
            return obj if (obj.get("status") or {}).get("phase") == "Running" else None

        study_obj = await cluster.wait_for(running, 10, what="the create handler ran")
        assert study_obj["metadata"]["finalizers"]  # kopf's finalizer, by JSON patch + test
        job = await cluster.get("batch/v1", "jobs", NS, "s-0")
        assert job["metadata"]["ownerReferences"][0]["uid"] == study_obj["metadata"]["uid"]

        async def succeeded_pod() -> dict[str, Any] | None:
            pods = await cluster.list("v1", "pods", NS, label_selector="job-name=s-0")
            done = [pod for pod in pods if pod["status"].get("phase") == "Succeeded"]
            return done[0] if done else None

        pod = await cluster.wait_for(succeeded_pod, 5, what="the trial's pod succeeded")
        assert json.loads(pod["metadata"]["annotations"][RESULT_ANNOTATION]) == \
            {"loss": 9.0, "cost": 1.0}
        if not standalone:
            peering = await cluster.get("kopf.dev/v1", "kopfpeerings", NS, "default")
            assert peering.get("status")  # kopf keeps its liveness record there

        await cluster.delete(*STUDIES, NS, "s")

        async def all_gone() -> bool:
            return not any([await cluster.list(*STUDIES, NS),
                            await cluster.list("batch/v1", "jobs", NS),
                            await cluster.list("v1", "pods", NS)])

        await cluster.wait_for(all_gone, 10, what="finalizer removed, Job and Pod collected")
        assert deleted == ["s"]


@pytest.mark.parametrize(("result", "phase", "exit_code", "message", "annotation"), [
    ({"loss": 0.5, "flops": 1e9}, "Succeeded", 0, '{"loss": 0.5, "flops": 1000000000.0}',
     '{"loss": 0.5, "flops": 1000000000.0}'),
    ("not json at all", "Succeeded", 0, "not json at all", "not json at all"),
    (None, "Succeeded", 0, "", None),
    (RuntimeError("CUDA out of memory"), "Failed", 1, "CUDA out of memory", None),
], ids=["dict", "malformed", "none", "exception"])
async def test_simulated_kubelet_runs_a_trial_job(
        cluster: Cluster, kubelet: SimulatedKubelet, result: Result, phase: str,
        exit_code: int, message: str, annotation: str | None) -> None:
    seen: list[dict[str, float]] = []

    def objective(params: dict[str, float]) -> Result:
        seen.append(params)
        return result

    kubelet.objective = objective
    job = await cluster.create(trial_job("t-0", {"lr": 0.01, "width": 64.0}))

    async def finished() -> dict[str, Any] | None:
        obj = await cluster.get("batch/v1", "jobs", NS, "t-0")
        conditions = {c["type"] for c in (obj.get("status") or {}).get("conditions") or []}
        return obj if conditions & {"Complete", "Failed"} else None

    job = await cluster.wait_for(finished, 5, what="the Job finished")
    assert seen == [{"lr": 0.01, "width": 64.0}]
    [pod] = await cluster.list("v1", "pods", NS, label_selector="job-name=t-0")
    assert pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert pod["metadata"]["labels"]["carbs.dev/trial"] == "t-0"
    assert pod["spec"]["containers"][0]["env"][0]["name"] == "CARBS_PARAMS"
    assert pod["status"]["phase"] == phase
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["message"]) == (exit_code, message)
    assert (pod["metadata"].get("annotations") or {}).get(RESULT_ANNOTATION) == annotation
    status = job["status"]
    assert status["startTime"]
    assert "active" not in status
    if phase == "Succeeded":
        assert status["succeeded"] == 1
        assert status["completionTime"]
        assert [c["type"] for c in status["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    else:
        assert status["failed"] == 1
        assert status["conditions"][-1]["reason"] == "BackoffLimitExceeded"


async def test_simulated_kubelet_pauses_retries_and_honours_deadlines(
        cluster: Cluster, kubelet: SimulatedKubelet) -> None:
    kubelet.pause()
    await cluster.create(trial_job("paused", {"x": 1.0}))
    await cluster.wait_for(lambda: kubelet.started_jobs, 2)
    await asyncio.sleep(0.2)
    [pod] = await cluster.list("v1", "pods", NS)
    assert pod["status"]["phase"] == "Pending"  # frozen
    kubelet.resume()

    async def phase(name: str) -> str | None:
        pods = await cluster.list("v1", "pods", NS, label_selector=f"job-name={name}")
        phases = sorted(p["status"]["phase"] for p in pods)
        return ",".join(phases) if phases and "Running" not in phases and \
            "Pending" not in phases else None

    assert await cluster.wait_for(lambda: phase("paused"), 5) == "Succeeded"

    # A Job deleted mid-run: its simulation ends quietly, its Pod goes by GC.
    kubelet.pause()
    await cluster.create(trial_job("dropped", {"x": 1.0}))
    await cluster.wait_for(lambda: cluster.list("v1", "pods", NS,
                                                label_selector="job-name=dropped"), 2)
    await cluster.delete("batch/v1", "jobs", NS, "dropped")  # Background, like kubectl
    kubelet.resume()
    assert await cluster.list("v1", "pods", NS, label_selector="job-name=dropped") == []

    await cluster.create(trial_job("retried", None, backoff_limit=1))  # no CARBS_PARAMS
    job = await cluster.wait_for(lambda: _with_condition(cluster, "retried", "Failed"), 5)
    assert job["status"]["failed"] == 2  # backoffLimit 1: two attempts
    assert await phase("retried") == "Failed,Failed"

    async def slow(params: dict[str, float]) -> Result:
        await asyncio.sleep(10)
        return {"loss": 1.0}

    kubelet.objective = slow
    await cluster.create(trial_job("late", {"x": 1.0}, activeDeadlineSeconds=1))
    assert await cluster.wait_for(lambda: phase("late"), 5) == "Failed"
    job = await cluster.wait_for(lambda: _with_condition(cluster, "late", "Failed"), 2)
    assert job["status"]["conditions"][-1]["reason"] == "DeadlineExceeded"


async def _with_condition(cluster: Cluster, name: str, kind: str) -> dict[str, Any] | None:
    job = await cluster.get("batch/v1", "jobs", NS, name)
    conditions = (job.get("status") or {}).get("conditions") or []
    return job if any(c["type"] == kind for c in conditions) else None
