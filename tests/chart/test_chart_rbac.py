"""The operator's RBAC is exactly what it uses: no more verbs, no other resources.

EXPECTED is derived from the code (see the chart's templates/_helpers.tpl for the reasoning
per rule) and confirmed by test_rbac_allows_every_request_the_operator_makes, which runs the
real operator through a study against the API emulator and checks each request it sent
against the rules the chart renders.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.chart.chart_support import FULLNAME, NAMESPACE, SCENARIOS, of_kind, only, render

Rule = tuple[str, str, str]  # (apiGroup, resource, verb)


def _rules(*entries: tuple[str, str, str]) -> frozenset[Rule]:
    return frozenset((group, resource, verb) for group, resource, verbs in entries
                     for verb in verbs.split())


EXPECTED = _rules(
    ("carbs.dev", "carbsstudies", "get list watch"),
    ("carbs.dev", "carbsstudies/status", "patch"),
    ("carbs.dev", "carbsstudies/finalizers", "update"),
    ("carbs.dev", "carbstrials", "get list watch create"),
    ("carbs.dev", "carbstrials/status", "patch"),
    ("carbs.dev", "carbstrials/finalizers", "update"),
    ("batch", "jobs", "get list watch create delete"),
    ("", "pods", "list watch"),
    ("", "pods/log", "get"),
    ("", "events", "create"),
)
POD_LOGS = _rules(("", "pods/log", "get"))
CLUSTER_PEERING = _rules(("kopf.dev", "clusterkopfpeerings", "get list watch patch"))
NAMESPACED_PEERING = _rules(("kopf.dev", "kopfpeerings", "get list watch patch"))
USER_VIEW = _rules(("carbs.dev", "carbsstudies", "get list watch"),
                   ("carbs.dev", "carbstrials", "get list watch"))
USER_EDIT = _rules(("carbs.dev", "carbsstudies", "create update patch delete deletecollection"))
WATCHED = SCENARIOS["namespaced"]["watch"]["namespaces"]
NAMESPACED_PEERED = {**SCENARIOS["namespaced"], "peering": {"enabled": True}}
# Shard Leases (the default, unless kopf peering): in the release namespace only, no delete;
# events for the ShardsHeld Event on a replica's member Lease.
LEASES = {NAMESPACE: _rules(("coordination.k8s.io", "leases", "get list watch create update"),
                            ("", "events", "create"))}


def flatten(role: dict[str, Any]) -> frozenset[Rule]:
    """A Role's rules as (group, resource, verb) triples; anything else is a failure."""
    triples = set()
    for rule in role.get("rules") or []:
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no names, no URLs
        triples |= {(g, r, v) for g in rule["apiGroups"] for r in rule["resources"]
                    for v in rule["verbs"]}
    return frozenset(triples)


def _operator_bindings(objects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for binding in objects:
        if binding["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            subjects = binding["subjects"]
            if any(s["kind"] == "ServiceAccount" and s["name"] == FULLNAME and
                   s["namespace"] == NAMESPACE for s in subjects):
                yield binding


def granted(objects: list[dict[str, Any]]) -> dict[str | None, frozenset[Rule]]:
    """What the operator's ServiceAccount may do: namespace (None = cluster-wide) -> rules."""
    roles = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o
             for o in objects if o["kind"] in ("Role", "ClusterRole")}
    result: dict[str | None, frozenset[Rule]] = {}
    for binding in _operator_bindings(objects):
        ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace")
        role_ns = namespace if ref["kind"] == "Role" else None
        rules = flatten(roles[(ref["kind"], role_ns, ref["name"])])
        result[namespace] = result.get(namespace, frozenset()) | rules
    return result


def test_all_namespaces_mode_grants_exactly_the_operator_rules_cluster_wide() -> None:
    objects = render({})
    assert granted(objects) == {None: EXPECTED, **LEASES}
    assert [r["metadata"]["namespace"] for r in of_kind(objects, "Role")] == [NAMESPACE]


def test_namespaced_mode_grants_exactly_the_operator_rules_in_each_watched_namespace() -> None:
    """A Role per watched namespace, and nothing cluster-wide for the operator."""
    objects = render(SCENARIOS["namespaced"])
    assert granted(objects) == {**dict.fromkeys(WATCHED, EXPECTED), **LEASES}
    assert of_kind(objects, "ClusterRoleBinding") == []
    assert {r["metadata"]["namespace"] for r in of_kind(objects, "Role")} == \
        {*WATCHED, NAMESPACE}


def test_workload_kinds_grow_the_rules_by_exactly_the_kinds_enabled() -> None:
    """trialKinds: each kind listed adds its resource with a Job's verbs, and nothing else."""
    verbs = "get list watch create delete"
    kinds = {"JobSet": ("jobset.x-k8s.io", "jobsets"),
             "TrainJob": ("trainer.kubeflow.org", "trainjobs"),
             "PyTorchJob": ("kubeflow.org", "pytorchjobs")}
    jobs = _rules(("batch", "jobs", verbs))
    for kind, (group, plural) in kinds.items():
        extra = _rules((group, plural, verbs))
        assert granted(render({"trialKinds": ["Job", kind]})) == {None: EXPECTED | extra,
                                                                  **LEASES}
        assert granted(render({"trialKinds": [kind]})) == {None: (EXPECTED - jobs) | extra,
                                                           **LEASES}
    every = render({**SCENARIOS["namespaced"], "trialKinds": ["Job", *kinds]})
    added = frozenset().union(*(_rules((g, p, verbs)) for g, p in kinds.values()))
    assert granted(every) == {**dict.fromkeys(WATCHED, EXPECTED | added), **LEASES}


def test_pod_logs_only_while_the_stdout_collector_is_enabled() -> None:
    """Reading logs is granted for spec.metricsCollector StdOut, and only for it."""
    assert granted(render({"metricsCollectors": ["Report"]})) == {None: EXPECTED - POD_LOGS,
                                                                  **LEASES}
    assert granted(render({**SCENARIOS["namespaced"], "metricsCollectors": []})) == \
        {**dict.fromkeys(WATCHED, EXPECTED - POD_LOGS), **LEASES}
    assert granted(render({"metricsCollectors": ["StdOut"]})) == {None: EXPECTED, **LEASES}


def test_peering_adds_only_its_own_objects() -> None:
    """kopf lists, watches and merge-patches the peering object; it never creates one.
    Peering replaces the shard Leases: no Lease rules then. Replicas alone do not peer."""
    assert granted(render({"peering": {"enabled": True}})) == {None: EXPECTED | CLUSTER_PEERING}
    assert granted(render(SCENARIOS["replicated"])) == {None: EXPECTED, **LEASES}
    assert granted(render(NAMESPACED_PEERED)) == dict.fromkeys(
        WATCHED, EXPECTED | NAMESPACED_PEERING)


def test_peering_objects_are_where_kopf_looks_for_them() -> None:
    """The name the Deployment passes as --peering: cluster-wide, or one per namespace."""
    rendered = render({"peering": {"enabled": True}})
    cluster = only(of_kind(rendered, "ClusterKopfPeering"))
    deployment = only(of_kind(rendered, "Deployment"))
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--peering={cluster['metadata']['name']}" in args
    assert cluster["metadata"]["name"] == "carbs-operator"
    namespaced = of_kind(render(NAMESPACED_PEERED), "KopfPeering")
    assert sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in namespaced) == [
        (ns, "carbs-operator") for ns in WATCHED]
    assert of_kind(render({}), "ClusterKopfPeering") == []


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_no_role_names_secrets_or_wildcards(scenario: str) -> None:
    """Whatever the mode, no rule touches secrets or uses `*`, and nothing escalates."""
    for role in [o for o in render(SCENARIOS[scenario]) if o["kind"] in ("Role", "ClusterRole")]:
        for group, resource, verb in flatten(role):
            assert "*" not in (group, resource, verb)
            assert resource.split("/")[0] not in ("secrets", "configmaps", "serviceaccounts")
            assert verb not in ("escalate", "bind", "impersonate")


def test_aggregated_user_roles() -> None:
    """Namespace viewers may read studies and trials; editors may also write studies."""
    objects = render({})
    view = only([o for o in of_kind(objects, "ClusterRole")
                 if o["metadata"]["name"] == f"{FULLNAME}-view"])
    edit = only([o for o in of_kind(objects, "ClusterRole")
                 if o["metadata"]["name"] == f"{FULLNAME}-edit"])
    assert flatten(view) == USER_VIEW
    assert flatten(edit) == USER_EDIT
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    assert edit["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert "rbac.authorization.k8s.io/aggregate-to-view" not in edit["metadata"]["labels"]
    off = render({"rbac": {"aggregateClusterRoles": False}})
    assert [o["metadata"]["name"] for o in of_kind(off, "ClusterRole")] == [FULLNAME]
    assert [o for o in render({"rbac": {"create": False}})
            if o["kind"].endswith(("Role", "RoleBinding"))] == []


# -- the rules against what the operator really sends ------------------------------------------

# kopf tries these cluster-scoped reads and, when refused, logs a warning and falls back
# (kopf._core.reactor.observation): it serves the namespaces it was given by name, and the
# CRDs it found at start. The chart grants neither, in either mode.
OPTIONAL_CLUSTER_READS = _rules(("", "namespaces", "list watch"),
                                ("apiextensions.k8s.io", "customresourcedefinitions",
                                 "list watch"))


def _verb(request: Any) -> str:
    """The RBAC verb the API server would check for this request."""
    method = str(getattr(request.method, "value", request.method)).upper()
    if method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    if method == "DELETE":
        return "delete" if request.name else "deletecollection"
    return {"POST": "create", "PATCH": "patch", "PUT": "update"}[method]


def _observed(emulator: Any) -> set[tuple[str | None, Rule]]:
    """(namespace or None, rule) of every resource request kopf and the operator sent."""
    seen = set()
    for request in emulator._requests:
        if "x-emulator-exempt" in {key.lower() for key in request.headers}:
            continue  # the test's own requests and the simulated kubelet's
        resource = request.resource
        if resource is None or resource.plural is None:
            continue  # discovery (/api, /apis/...): allowed to every account by default
        plural = resource.plural + (f"/{request.subresource}" if request.subresource else "")
        seen.add((request.namespace, (resource.group, plural, _verb(request))))
    return seen


def _allowed(grants: dict[str | None, frozenset[Rule]], namespace: str | None,
             rule: Rule) -> bool:
    return rule in grants.get(None, frozenset()) or (
        namespace is not None and rule in grants.get(namespace, frozenset()))


async def _run_study_against_emulator(*, clusterwide: bool, peering: bool) -> Any:
    """The real operator (kopf + reconciler) runs a study to completion; return the emulator.

    Sharded by Leases in the release namespace (POD_NAMESPACE, as the chart sets it), or
    with kopf peering; with a goal that completes the study while trials still run, so
    their Jobs are deleted too.
    """
    from tests.support.emulator import start_cluster
    from tests.support.kopf_harness import carbs_operator_thread
    from tests.support.kubelet import SimulatedKubelet

    namespaces = tuple(WATCHED)
    study = {
        "apiVersion": "carbs.dev/v1alpha1", "kind": "CarbsStudy",
        "metadata": {"name": "rbac", "namespace": namespaces[0]},
        "spec": {
            "objective": {"metric": "loss", "direction": "minimize"},
            "cost": {"metric": "cost"},
            "parameters": [{"name": "x", "space": "linear", "min": -1, "max": 1,
                            "searchCenter": 0.5}],
            "budget": {"maxTrials": 6, "maxFailedTrials": 2, "goal": 10.0},
            "parallelism": 3,
            "trialTemplate": {"spec": {"backoffLimit": 0, "template": {"spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "t", "image": "x", "command": ["t"]}]}}}},
        },
    }
    rng = random.Random(0)  # noqa: S311 - trial durations, not secrets

    async def objective(params: dict[str, float]) -> dict[str, float]:
        await asyncio.sleep(0.05 if params["x"] == 0.5 else rng.uniform(0.5, 1.0))
        return {"loss": float(params["x"]) ** 2, "cost": 1.0}

    async with start_cluster(namespaces=namespaces) as cluster:
        if peering:
            for namespace in [None] if clusterwide else namespaces:
                await cluster.create_peering(namespace, name="carbs-operator")
        stop = threading.Event()
        thread = carbs_operator_thread(
            cluster, stop, namespaces=() if clusterwide else namespaces,
            clusterwide=clusterwide, standalone=False, resync_seconds=0.2,
            peering_name="carbs-operator" if peering else None, lease_seconds=1.5,
        )
        try:
            async with SimulatedKubelet(cluster, objective):
                await cluster.create(study)

                async def finished() -> bool:
                    found = await cluster.find("carbs.dev/v1alpha1", "carbsstudies",
                                               namespaces[0], "rbac")
                    return (found or {}).get("status", {}).get("phase") == "Succeeded"

                await cluster.wait_for(finished, timeout=30, what="the study to succeed")
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, 15)
        return cluster.emulator


@pytest.mark.parametrize("scenario", ["all namespaces", "namespaced", "namespaced peered"])
async def test_rbac_allows_every_request_the_operator_makes(
    scenario: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every request of a full study run is allowed by the rendered rules of that mode.

    Only kopf's optional cluster-wide observation is refused (it falls back), and the
    run does exercise the rules that matter: it creates trials and Jobs, patches statuses,
    deletes the Jobs of trials still running when the study completes, and holds shard
    Leases (or peers, with peering).
    """
    pytest.importorskip("tests.support.emulator", reason="the API emulator (tests/support)")
    clusterwide = scenario == "all namespaces"
    peering = scenario.endswith("peered")
    values = NAMESPACED_PEERED if peering else {} if clusterwide else SCENARIOS["namespaced"]
    grants = granted(render(values))
    monkeypatch.setenv("POD_NAMESPACE", NAMESPACE)
    emulator = await _run_study_against_emulator(clusterwide=clusterwide, peering=peering)
    observed = _observed(emulator)
    refused = {(ns, rule) for ns, rule in observed if not _allowed(grants, ns, rule)}
    assert {rule for _, rule in refused} <= OPTIONAL_CLUSTER_READS, sorted(refused, key=str)
    used = {rule for _, rule in observed}
    assert {("carbs.dev", "carbstrials", "create"), ("batch", "jobs", "create"),
            ("batch", "jobs", "delete"), ("carbs.dev", "carbsstudies/status", "patch"),
            ("carbs.dev", "carbstrials/status", "patch"), ("", "events", "create")} <= used
    if peering:
        assert ("kopf.dev", "kopfpeerings", "patch") in used
    else:
        assert {("coordination.k8s.io", "leases", verb) for verb in ("list", "create")} <= used


async def test_rbac_with_only_jobset_enabled_allows_a_stdout_jobset_study() -> None:
    """trialKinds [JobSet]: the operator creates, watches and deletes JobSets, reads rank
    0's log (pods/log), and never touches Jobs, which that chart does not grant."""
    from tests.k8s.test_workload_kinds import jobset_study
    from tests.support.emulator import start_cluster
    from tests.support.kopf_harness import carbs_operator_thread
    from tests.support.kubelet import Output
    from tests.support.workload_sim import SimulatedWorkloads, install_crds

    def printed(params: dict[str, float]) -> Output:
        return Output(f"loss={float(params['x']) ** 2!r} cost=1\n")

    grants = granted(render({"trialKinds": ["JobSet"]}))
    async with start_cluster() as cluster:
        await install_crds(cluster, "jobset")
        stop = threading.Event()
        thread = carbs_operator_thread(cluster, stop, clusterwide=True, standalone=True,
                                       resync_seconds=0.2, trial_kinds=frozenset({"JobSet"}))
        try:
            async with SimulatedWorkloads(cluster, printed):
                await cluster.create(jobset_study("rbac-js", budget={"maxTrials": 2},
                                                  metricsCollector={"kind": "StdOut"}))

                async def finished() -> bool:
                    found = await cluster.find("carbs.dev/v1alpha1", "carbsstudies",
                                               "default", "rbac-js")
                    return bool((found or {}).get("status", {}).get("phase") == "Succeeded")

                await cluster.wait_for(finished, timeout=30, what="the study to succeed")
        finally:
            stop.set()
            await asyncio.to_thread(thread.join, 15)
        observed = _observed(cluster.emulator)
    refused = {(ns, rule) for ns, rule in observed if not _allowed(grants, ns, rule)}
    assert {rule for _, rule in refused} <= OPTIONAL_CLUSTER_READS, sorted(refused, key=str)
    used = {rule for _, rule in observed}
    assert {("jobset.x-k8s.io", "jobsets", "create"), ("jobset.x-k8s.io", "jobsets", "watch"),
            ("", "pods/log", "get")} <= used
    assert not {rule for rule in used if rule[0] == "batch"}
