"""Rendering the chart the way Helm would, and the scenarios the tests render.

helm-python-sdk runs Helm's own Go code (no helm binary), so what is rendered here is what
`helm template` / `helm install` would send, including Helm's values.schema.json check.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "carbs-operator"
RELEASE = "carbs-operator"
NAMESPACE = "carbs-system"
FULLNAME = "carbs-operator"  # the release name contains the chart name: no doubling

# The value sets CI renders: the defaults, each mode, and every optional object at once.
SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "namespaced": {"watch": {"allNamespaces": False, "namespaces": ["team-a", "team-b"]}},
    "replicated": {"replicas": 3, "pdb": {"enabled": True}},
    "everything": {
        "peering": {"enabled": True},
        "pdb": {"enabled": True, "minAvailable": 1},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"},
                           "relabelings": [{"action": "labeldrop", "regex": "pod"}]},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "dashboard": {"enabled": True, "annotations": {"grafana_folder": "ML"}},
        "image": {"digest": "sha256:" + "a" * 64},
        "imagePullSecrets": [{"name": "regcred"}],
        "extraEnv": [{"name": "HTTPS_PROXY", "value": "http://proxy:3128"}],
        "operator": {"device": "auto"},
        "podAnnotations": {"example.com/team": "ml"},
        "podLabels": {"team": "ml"},
        "commonLabels": {"cost-center": "research"},
        "priorityClassName": "system-cluster-critical",
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml",
                         "effect": "NoSchedule"}],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}]}}},
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": {"team": "ml"}}}],
        "strategy": {"type": "Recreate"},
        "service": {"annotations": {"example.com/scrape": "false"}},
        "serviceAccount": {"annotations": {"iam.example.com/role": "carbs"}},
        "deploymentAnnotations": {"example.com/owner": "ml-platform"},
    },
}

# Kinds that only exist through CRDs kubernetes-validate has no schema for.
CRD_ONLY_KINDS = {"ServiceMonitor", "PrometheusRule", "KopfPeering", "ClusterKopfPeering"}


def chart_yaml() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return loaded


def kube_versions() -> tuple[str, str]:
    """(oldest, newest) Kubernetes versions the chart supports and CI validates against.

    The oldest is the floor of Chart.yaml's kubeVersion; the newest is the newest schema set
    kubernetes-validate ships, so a kubernetes-validate upgrade widens the check by itself.
    """
    match = re.fullmatch(r">=\s*(\d+\.\d+)\.0-0", chart_yaml()["kubeVersion"])
    assert match, "kubeVersion must be a plain floor like >=1.28.0-0"
    newest = ".".join(kubernetes_validate.latest_version().split(".")[:2])
    return match.group(1), newest


def render_files(values: dict[str, Any]) -> dict[str, str]:
    """Template path -> rendered text; raises Helm's error for bad values or a failing template."""
    with helm.Chart.load(CHART) as chart:
        rendered: dict[str, str] = chart.render(values, name=RELEASE, namespace=NAMESPACE)
    return rendered


def documents(rendered: dict[str, str]) -> Iterator[dict[str, Any]]:
    for path, text in sorted(rendered.items()):
        if path.endswith(".txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                yield doc


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders for `values`."""
    return list(documents(render_files(values)))


@functools.cache
def render_scenario(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(SCENARIOS[name]))


def of_kind(objects: Iterator[dict[str, Any]] | tuple[dict[str, Any], ...] | list[dict[str, Any]],
            kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def only(objects: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(objects) == 1, [obj["metadata"].get("name") for obj in objects]
    return objects[0]


def helm_crd_dir_objects() -> list[dict[str, Any]]:
    """The CRDs in the chart's crds/ directory (Helm installs them before the templates)."""
    with helm.Chart.load(CHART) as chart:
        files = chart.crds
    return [doc for entry in files for doc in yaml.safe_load_all(entry["data"]) if doc]
