"""The operator Deployment: restricted security, the right `carbs operator` flags, probes.

The container's args are parsed by the real `carbs` argument parser, so a flag the chart
passes and the CLI does not know (or a mode the CLI refuses) fails here, not in a
CrashLoopBackOff.
"""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from carbs_operator.cli import build_parser
from tests.chart.chart_support import SCENARIOS, chart_yaml, of_kind, only, render, render_scenario

RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def deployment(values: dict[str, Any] | str) -> dict[str, Any]:
    objects = render_scenario(values) if isinstance(values, str) else render(values)
    return only(of_kind(objects, "Deployment"))


def pod_spec(values: dict[str, Any] | str) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(values)["spec"]["template"]["spec"]
    return spec


def container(values: dict[str, Any] | str) -> dict[str, Any]:
    return only(pod_spec(values)["containers"])


def parsed_args(values: dict[str, Any] | str) -> argparse.Namespace:
    """The container's args as `carbs operator` would parse them (the image's entrypoint)."""
    return build_parser().parse_args(["operator", *container(values)["args"]])


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_security_contexts_are_restricted(scenario: str) -> None:
    """Pod Security Standard "restricted", plus a read-only root file system, in every mode."""
    assert pod_spec(scenario)["securityContext"] == RESTRICTED_POD
    assert container(scenario)["securityContext"] == RESTRICTED_CONTAINER


def test_read_only_root_gets_a_writable_tmp() -> None:
    """torch and Python write under /tmp (HOME too): an emptyDir, size-limited."""
    spec = pod_spec("default")
    (volume,) = spec["volumes"]
    assert volume == {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}
    assert container("default")["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    env = {e["name"]: e for e in container("default")["env"]}
    assert env["HOME"]["value"] == "/tmp"


def test_all_namespaces_mode_flags() -> None:
    args = parsed_args("default")
    assert args.all_namespaces
    assert args.namespace == []
    assert not args.standalone, "replicas share the studies by shard Leases"
    assert (args.shards, args.lease_seconds, args.workers) == (16, 15.0, 0)
    assert args.metrics_port == 8080
    assert args.liveness == "http://0.0.0.0:8081/healthz"
    assert args.device == "cpu"
    assert args.trial_kinds == "Job"
    assert parsed_args({"trialKinds": ["Job", "JobSet"]}).trial_kinds == "Job,JobSet"


def test_namespaced_mode_flags() -> None:
    args = parsed_args("namespaced")
    assert not args.all_namespaces
    assert args.namespace == ["team-a", "team-b"]


@pytest.mark.parametrize(("values", "peering"), [
    ({}, False),
    ({"peering": {"enabled": True}}, True),
    ({"replicas": 1}, False),
    ({"replicas": 0}, False),
])
def test_sharded_unless_peering(values: dict[str, Any], peering: bool) -> None:
    """Three replicas by default, sharing the studies by shard Leases, however many there
    are; kopf's active/standby peering only when asked for, and mandatory then
    (`--peering carbs-operator`): a replica that cannot find the peering object stops with
    an error instead of running a second, unpeered copy. Never --standalone: a second
    replica would then serve the same studies."""
    args = parsed_args(values)
    assert not args.standalone
    assert args.peering == ("carbs-operator" if peering else None)
    assert deployment(values)["spec"]["replicas"] == values.get("replicas", 3)


def test_sharding_and_workers_values_reach_the_flags() -> None:
    values = {"sharding": {"shards": 32, "leaseSeconds": 20}, "operator": {"workers": 4}}
    args = parsed_args(values)
    assert (args.shards, args.lease_seconds, args.workers) == (32, 20.0, 4)
    env = {e["name"]: e for e in container("default")["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_extra_args_are_appended_as_given() -> None:
    args = container({"operator": {"extraArgs": ["--device=cuda"]}})["args"]
    assert args[-1] == "--device=cuda"
    assert parsed_args({"operator": {"extraArgs": ["--device=cuda"]}}).device == "cuda"


def test_probes_use_kopfs_health_endpoint() -> None:
    """Startup, liveness and readiness all ask kopf's /healthz on the port --liveness opens."""
    main = container("default")
    ports = {p["name"]: p["containerPort"] for p in main["ports"]}
    assert ports == {"http-metrics": 8080, "healthz": 8081}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    disabled = container({"livenessProbe": {"enabled": False}})
    assert "livenessProbe" not in disabled
    assert "readinessProbe" in disabled


def test_metrics_service_targets_the_metrics_port() -> None:
    service = only(of_kind(render_scenario("default"), "Service"))
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == "http-metrics"
    assert port["port"] == 8080
    pod_labels = deployment("default")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert parsed_args({"metrics": {"port": 9090}}).metrics_port == 9090


def test_image_defaults_to_the_app_version() -> None:
    main = container("default")
    assert main["image"] == f"registry.example/carbs-operator:{chart_yaml()['appVersion']}"
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert container({"image": {"tag": "0.2.0"}})["image"].endswith(":0.2.0")
    assert container("everything")["image"] == "registry.example/carbs-operator@sha256:" + "a" * 64


def test_peering_identity_is_the_pod_name() -> None:
    """kopf reads POD_ID for its peering identity; without it, it needs a passwd entry."""
    env = {e["name"]: e for e in container("default")["env"]}
    assert env["POD_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}


def test_scheduling_and_metadata_values_reach_the_pod() -> None:
    spec = pod_spec("everything")
    values = SCENARIOS["everything"]
    assert spec["priorityClassName"] == values["priorityClassName"]
    assert spec["tolerations"] == values["tolerations"]
    assert spec["affinity"] == values["affinity"]
    assert spec["topologySpreadConstraints"] == values["topologySpreadConstraints"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    template = deployment("everything")["spec"]["template"]["metadata"]
    assert template["annotations"] == values["podAnnotations"]
    assert template["labels"]["team"] == "ml"
    assert deployment("everything")["spec"]["strategy"] == {"type": "Recreate"}
    env = {e["name"]: e for e in container("everything")["env"]}
    assert env["HTTPS_PROXY"]["value"] == "http://proxy:3128"
    assert spec["serviceAccountName"] == "carbs-operator"
    assert spec["automountServiceAccountToken"] is True
