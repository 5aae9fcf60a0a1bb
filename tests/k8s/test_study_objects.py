"""A study's cache of its trials, workloads and pods (k8s/study_objects.py).

The bookkeeping is tested on its own; StudyApi against the API emulator with the real
KubeApi, counting the requests that reach the server.
"""

from __future__ import annotations

from typing import Any

from carbs_operator.k8s.api import JOBS, TRIALS, KubeApi
from carbs_operator.k8s.study_objects import PODS, StudyApi, StudyObjects
from carbs_operator.template import LABEL_STUDY, LABEL_TRIAL
from tests.support.emulator import EXEMPT_HEADER, Cluster

GV = "carbs.dev/v1alpha1"


def trial(name: str, version: int, phase: str = "Running", study: str = "s") -> dict[str, Any]:
    return {"apiVersion": GV, "kind": "CarbsTrial",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": str(version),
                         "labels": {LABEL_STUDY: study}},
            "spec": {"study": study, "index": int(name.rsplit("-", 1)[1]),
                     "params": {"lr": 0.1}, "suggestion": {"suggestionId": "a", "kind": "random"}},
            "status": {"phase": phase}}


def test_an_event_older_than_what_is_kept_does_not_roll_it_back() -> None:
    cache = StudyObjects()
    cache.put(TRIALS, trial("s-0", 7, "Succeeded"))  # our own write's answer
    cache.observe(TRIALS, {"type": "MODIFIED", "object": trial("s-0", 5, "Running")})
    assert cache.find(TRIALS, "s-0")["status"]["phase"] == "Succeeded"  # type: ignore[index]
    cache.observe(TRIALS, {"type": "MODIFIED", "object": trial("s-0", 9, "Succeeded")})
    assert cache.find(TRIALS, "s-0")["metadata"]["resourceVersion"] == "9"  # type: ignore[index]


def test_a_deleted_object_comes_back_only_with_a_newer_version() -> None:
    cache = StudyObjects()
    cache.put(JOBS, trial("s-0", 4))
    cache.remove(JOBS, "s-0")  # our delete
    cache.observe(JOBS, {"type": "MODIFIED", "object": trial("s-0", 3)})  # late, older
    assert cache.find(JOBS, "s-0") is None
    cache.observe(JOBS, {"type": "MODIFIED", "object": trial("s-0", 6)})  # still terminating
    assert cache.find(JOBS, "s-0") is not None
    cache.observe(JOBS, {"type": "DELETED", "object": trial("s-0", 8)})
    assert cache.find(JOBS, "s-0") is None


async def test_a_list_drops_what_it_lacks_unless_it_changed_while_the_list_was_on_its_way(
) -> None:
    cache = StudyObjects()
    cache.put(TRIALS, trial("s-0", 1))
    cache.put(TRIALS, trial("s-1", 2))  # deleted on the server, no event seen
    mark = cache.mark()
    cache.put(TRIALS, trial("s-2", 5))  # created after the list began
    await cache.load(TRIALS, [trial("s-0", 1), trial("s-3", 4)], mark, now=0.0)
    assert sorted(o["metadata"]["name"] for o in cache.objects(TRIALS)) == ["s-0", "s-2", "s-3"]
    assert cache.listed_at(TRIALS) == 0.0


def workload(resource_name: str, trial_name: str, version: int) -> dict[str, Any]:
    return {"metadata": {"name": resource_name, "resourceVersion": str(version),
                         "labels": {LABEL_STUDY: "s", LABEL_TRIAL: trial_name}}}


def test_a_concluded_trials_workload_and_pods_are_not_kept() -> None:
    cache = StudyObjects()
    cache.put(JOBS, workload("s-0", "s-0", 2))
    cache.put(PODS, workload("s-0-abc", "s-0", 3))
    cache.put(JOBS, workload("s-1", "s-1", 4))
    cache.put(TRIALS, trial("s-1", 5, "EarlyStopped"))  # its workload is deleted later
    cache.put(TRIALS, trial("s-0", 6, "Succeeded"))
    assert cache.find(JOBS, "s-0") is None
    assert cache.find(PODS, "s-0-abc") is None
    assert cache.find(JOBS, "s-1") is not None
    cache.observe(PODS, {"type": "MODIFIED", "object": workload("s-0-abc", "s-0", 9)})
    assert cache.objects(PODS) == []


def test_a_trial_is_parsed_once_per_version() -> None:
    cache = StudyObjects()
    first = cache.record(trial("s-0", 1))
    assert first is not None
    assert cache.record(trial("s-0", 1)) is first
    again = cache.record(trial("s-0", 2, "Succeeded"))
    assert again is not first
    assert again is not None
    assert again.phase.value == "Succeeded"
    assert cache.record({"metadata": {"name": "x", "resourceVersion": "3"}, "spec": 1}) is None


def _server_requests(cluster: Cluster, since: int, plural: str) -> list[Any]:
    return [r for r in cluster.emulator._requests[since:]
            if EXEMPT_HEADER.lower() not in {k.lower() for k in r.headers}
            and r.resource is not None and r.resource.plural == plural]


async def test_study_api_lists_once_and_reads_its_own_writes(cluster: Cluster) -> None:
    api = KubeApi(cluster.api_client())
    try:
        await cluster.create(trial("s-0", 0, study="s") | {"status": {}})
        await cluster.create(trial("o-0", 0, study="other") | {"status": {}})
        study = StudyApi(api, "default", "s")
        before = len(cluster.emulator._requests)
        first = await study.list_objects(TRIALS, "default", f"{LABEL_STUDY}=s")
        assert [o["metadata"]["name"] for o in first] == ["s-0"]
        created, fresh = await study.create(TRIALS, "default", {
            k: v for k, v in trial("s-1", 0).items() if k != "status"})
        assert fresh
        patched = await study.patch_status(TRIALS, "default", "s-1", {"phase": "Running"})
        assert patched is not None
        # The watch event of the create arrives after the patch: it must not undo it.
        study.observe(TRIALS, {"type": "ADDED", "object": created})
        for _ in range(5):
            listed = await study.list_objects(TRIALS, "default", f"{LABEL_STUDY}=s")
        by_name = {o["metadata"]["name"]: o for o in listed}
        assert sorted(by_name) == ["s-0", "s-1"]
        assert by_name["s-1"]["status"]["phase"] == "Running"
        lists = [r for r in _server_requests(cluster, before, "carbstrials")
                 if r.method == "GET" and r.name is None]
        assert len(lists) == 1  # the first read; every other came from the cache
        # Another study's trials (a warm start's source) are read from the server.
        other = await study.list_objects(TRIALS, "default", f"{LABEL_STUDY}=other")
        assert [o["metadata"]["name"] for o in other] == ["o-0"]
    finally:
        api.close()


async def test_a_workload_missing_from_the_cache_is_asked_for_before_it_counts_as_gone(
    cluster: Cluster,
) -> None:
    api = KubeApi(cluster.api_client())
    try:
        study = StudyApi(api, "default", "s")
        assert await study.get(JOBS, "default", "s-0") is None  # lists the Jobs: none
        job = {"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": "s-0", "namespace": "default",
                            "labels": {LABEL_STUDY: "s"}},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                   {"name": "t", "image": "x"}]}}}}
        await cluster.create(job)  # created by someone else; no event reaches the cache
        before = len(cluster.emulator._requests)
        found = await study.get(JOBS, "default", "s-0")
        assert found is not None
        assert found["metadata"]["name"] == "s-0"
        assert len(_server_requests(cluster, before, "jobs")) == 1
        assert await study.get(JOBS, "default", "s-0") is not None  # now kept
        assert len(_server_requests(cluster, before, "jobs")) == 1
        await study.delete(JOBS, "default", "s-0")
        assert study.cache.find(JOBS, "s-0") is None
    finally:
        api.close()


async def test_pods_come_from_the_cache_once_seen_and_fresh_when_asked(cluster: Cluster) -> None:
    api = KubeApi(cluster.api_client())
    try:
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "s-0-abc", "namespace": "default",
                            "labels": {LABEL_STUDY: "s", "job-name": "s-0"}},
               "spec": {"containers": [{"name": "t", "image": "x"}]}}
        await cluster.create(pod)
        study = StudyApi(api, "default", "s")
        before = len(cluster.emulator._requests)
        for _ in range(3):
            pods = await study.pods("default", "job-name=s-0")
            assert [p["metadata"]["name"] for p in pods] == ["s-0-abc"]
        assert len(_server_requests(cluster, before, "pods")) == 1  # the study's one list
        assert await study.pods("default", "job-name=s-9") == []  # none of the study's
        fresh = await study.fresh_pods("default", "job-name=s-0")
        assert [p["metadata"]["name"] for p in fresh] == ["s-0-abc"]
        assert len(_server_requests(cluster, before, "pods")) == 2
        assert study.cache.find(PODS, "s-0-abc") is not None
    finally:
        api.close()
