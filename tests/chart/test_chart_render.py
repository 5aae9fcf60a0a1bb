"""The chart lints strictly, renders in every mode, and every object is valid Kubernetes.

Helm's own lint and renderer run through helm-python-sdk; every rendered object, and every
CRD, goes through kubernetes-validate's strict schemas (unknown fields are errors) for the
oldest and the newest Kubernetes version the chart supports, so a field that does not exist
in 1.28, or no longer exists, fails here rather than at `helm install`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.chart.chart_support import (
    CHART,
    CRD_ONLY_KINDS,
    FULLNAME,
    NAMESPACE,
    REPO,
    SCENARIOS,
    chart_yaml,
    helm_crd_dir_objects,
    kube_versions,
    of_kind,
    only,
    render,
    render_files,
    render_scenario,
)

OLDEST, NEWEST = kube_versions()


def _validate(obj: dict[str, Any], version: str) -> bool:
    """True when validated; False when kubernetes-validate has no schema for the kind."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(p) for p in error.absolute_path)
        pytest.fail(f"{obj['kind']}/{obj['metadata'].get('name')} is invalid for Kubernetes "
                    f"{version} at {where}: {error.message}")
    return True


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_strict_lint_is_clean(scenario: str) -> None:
    """`helm lint --strict` (warnings are errors) finds nothing above INFO in any mode.

    The one INFO Helm always prints for this chart is "icon is recommended".
    """
    report = helm.lint(CHART, SCENARIOS[scenario], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert problems == [], problems
    assert report["errors"] == []


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_rendered_objects_are_valid_kubernetes(scenario: str, version: str) -> None:
    """Each object passes the strict schema of its kind; only CRD-defined kinds are skipped."""
    objects = render_scenario(scenario)
    assert objects, "nothing rendered"
    unchecked = {obj["kind"] for obj in objects if not _validate(obj, version)}
    assert unchecked <= CRD_ONLY_KINDS, f"no schema for {unchecked - CRD_ONLY_KINDS}"


@pytest.mark.parametrize("version", [OLDEST, NEWEST])
def test_helm_crd_dir_holds_valid_kopf_peering_crds(version: str) -> None:
    """kopf's peering CRDs (chart crds/) are valid apiextensions.k8s.io/v1 objects."""
    crds = helm_crd_dir_objects()
    assert {crd["metadata"]["name"] for crd in crds} == {
        "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"}
    for crd in crds:
        assert _validate(crd, version)
        # No status subresource: kopf then merge-patches the object itself, which is the
        # verb (patch on kopfpeerings, not kopfpeerings/status) the RBAC grants.
        assert "subresources" not in crd["spec"]["versions"][0]


def test_kube_version_floor_is_the_first_that_accepts_the_crds() -> None:
    """Chart.yaml's kubeVersion floor is real: the CRDs need it, the release before fails.

    The CarbsStudy CRD uses `fieldPath` in x-kubernetes-validations (Kubernetes 1.28). If
    this fails because the CRDs now validate on an older release, lower the floor.
    """
    major, minor = OLDEST.split(".")
    before = f"{major}.{int(minor) - 1}"
    crds = [yaml.safe_load(path.read_text()) for path in sorted((REPO / "crds").glob("*.yaml"))]
    for crd in crds:
        assert _validate(crd, OLDEST)
    refused = []
    for crd in crds:
        try:
            kubernetes_validate.validate(crd, before, strict=True)
        except kubernetes_validate.ValidationError:
            refused.append(crd["metadata"]["name"])
    assert refused, f"every CRD validates on Kubernetes {before}: lower kubeVersion"


def test_chart_crd_copies_are_identical_to_the_generated_crds() -> None:
    """charts/carbs-operator/crd-files/ holds byte-for-byte copies of crds/.

    crds/ is generated from the pydantic models (`carbs crds --write crds/`). After
    regenerating, copy them: cp crds/*.yaml charts/carbs-operator/crd-files/
    """
    source = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    copies = {p.name: p.read_bytes() for p in (CHART / "crd-files").glob("*.yaml")}
    assert source, "no generated CRDs found in crds/"
    assert sorted(copies) == sorted(source), "the chart's CRD files differ from crds/ in names"
    stale = [name for name in source if copies[name] != source[name]]
    assert stale == [], (f"{stale} differ from crds/: run "
                         "`cp crds/*.yaml charts/carbs-operator/crd-files/`")


def _strip_release_metadata(crd: dict[str, Any]) -> dict[str, Any]:
    crd = json.loads(json.dumps(crd))
    crd["metadata"].pop("annotations", None)
    crd["metadata"].pop("labels", None)
    return crd


def test_rendered_crds_are_the_generated_crds_plus_release_metadata() -> None:
    """The template's YAML round trip keeps every schema field; it only adds metadata."""
    rendered = {crd["metadata"]["name"]: crd
                for crd in of_kind(render_scenario("default"), "CustomResourceDefinition")}
    for path in (REPO / "crds").glob("*.yaml"):
        source = yaml.safe_load(path.read_text())
        name = source["metadata"]["name"]
        assert _strip_release_metadata(rendered[name]) == _strip_release_metadata(source)
        labels = rendered[name]["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        for key, value in source["metadata"].get("labels", {}).items():
            assert labels[key] == value  # the generator's own labels survive


def test_crds_are_kept_on_uninstall_unless_told_otherwise() -> None:
    """crds.keep (default) stops `helm uninstall` from deleting every study with the CRD."""
    kept = of_kind(render({}), "CustomResourceDefinition")
    assert len(kept) == 2
    assert all(c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in kept)
    dropped = of_kind(render({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert all("helm.sh/resource-policy" not in c["metadata"].get("annotations", {})
               for c in dropped)
    assert of_kind(render({"crds": {"enabled": False}}), "CustomResourceDefinition") == []


def test_optional_objects_render_only_when_enabled() -> None:
    """Defaults render no monitoring objects (their CRDs may be absent) and no PDB; the
    Role and RoleBinding are the shard Leases' in the release namespace."""
    default_kinds = {obj["kind"] for obj in render_scenario("default")}
    assert default_kinds == {"CustomResourceDefinition", "ServiceAccount", "ClusterRole",
                             "ClusterRoleBinding", "Role", "RoleBinding", "Deployment",
                             "Service"}
    everything = render_scenario("everything")
    assert {"ServiceMonitor", "PrometheusRule", "ConfigMap", "PodDisruptionBudget",
            "ClusterKopfPeering"} <= {obj["kind"] for obj in everything}


def test_service_monitor_scrapes_the_metrics_service() -> None:
    monitor = only(of_kind(render_scenario("everything"), "ServiceMonitor"))
    service = only(of_kind(render_scenario("everything"), "Service"))
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "http-metrics"
    assert endpoint["path"] == "/metrics"
    # The study's own `namespace` label must survive the scrape (dashboard and alerts use it).
    assert endpoint["honorLabels"] is True
    assert monitor["metadata"]["labels"]["release"] == "prometheus"


def test_prometheus_rule_and_dashboard_carry_the_shipped_files() -> None:
    """The PrometheusRule is files/prometheus-rules.yaml; the ConfigMap, files/dashboard.json."""
    everything = render_scenario("everything")
    rule = only(of_kind(everything, "PrometheusRule"))
    shipped = yaml.safe_load((CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"]["groups"] == (shipped.get("groups") or [])
    dashboard = only(of_kind(everything, "ConfigMap"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "ML"}
    (payload,) = dashboard["data"].values()
    shipped_json = json.loads((CHART / "files" / "dashboard.json").read_text())
    assert json.loads(payload) == shipped_json


def test_pdb_follows_the_chosen_budget() -> None:
    """maxUnavailable 1 by default (never blocks a drain); minAvailable when given."""
    default = only(of_kind(render_scenario("replicated"), "PodDisruptionBudget"))
    assert default["spec"].get("maxUnavailable") == 1
    assert "minAvailable" not in default["spec"]
    chosen = only(of_kind(render_scenario("everything"), "PodDisruptionBudget"))
    assert chosen["spec"].get("minAvailable") == 1
    assert "maxUnavailable" not in chosen["spec"]
    deployment = only(of_kind(render_scenario("everything"), "Deployment"))
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert chosen["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize(("values", "message"), [
    ({"pdb": {"enabled": True, "minAvailable": 1, "maxUnavailable": 1}}, "not both"),
    ({"serviceAccount": {"create": False}}, "serviceAccount.name is required"),
])
def test_contradictory_values_fail_the_render(values: dict[str, Any], message: str) -> None:
    """What the schema cannot say across keys, the templates refuse with a readable error."""
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        render_files(values)


def test_every_value_is_documented() -> None:
    """Each key of values.yaml has a comment right above it, or is a section whose keys do.

    Kubernetes objects passed through as they are (resources, security contexts) are
    documented as a whole by the comment above their key.
    """
    passthrough = {"resources", "podSecurityContext", "containerSecurityContext"}
    lines = (CHART / "values.yaml").read_text().splitlines()
    keyed = [(i, len(line) - len(line.lstrip()), line.strip().split(":")[0])
             for i, line in enumerate(lines)
             if re.match(r"^\s*[A-Za-z][\w.-]*:", line)]
    undocumented = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented or passthrough)
    for index, indent, key in keyed:
        while stack and stack[-1][0] >= indent:
            stack.pop()
        above = lines[index - 1].strip() if index else ""
        documented = above.startswith("#")
        inherited = any(k in passthrough and doc for _, k, doc in stack)
        is_section = index + 1 < len(lines) and lines[index].rstrip().endswith(":")
        if not (documented or inherited or is_section):
            undocumented.append(".".join([k for _, k, _ in stack] + [key]))
        stack.append((indent, key, documented))
    assert undocumented == []


def test_notes_tell_how_to_run_and_watch_the_example() -> None:
    notes = render_files({})["carbs-operator/templates/NOTES.txt"]
    assert "kubectl apply -f examples/digits-mlp/study-cluster.yaml" in notes
    assert "kubectl get carbsstudies" in notes
    assert "kubectl get cstudy" in notes
    namespaced = render_files(SCENARIOS["namespaced"])["carbs-operator/templates/NOTES.txt"]
    assert "kubectl apply -n team-a -f" in namespaced
    assert "WARNING" not in notes
    replicated = render_files(SCENARIOS["replicated"])["carbs-operator/templates/NOTES.txt"]
    assert "one works at a time" in replicated


def test_names_and_labels() -> None:
    """Objects are named after the release and labelled the Kubernetes-recommended way."""
    chart = chart_yaml()
    for obj in render_scenario("default"):
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "carbs-operator"
        assert labels["helm.sh/chart"] == f"carbs-operator-{chart['version']}"
        if obj["kind"] != "CustomResourceDefinition":
            assert obj["metadata"]["name"].startswith(FULLNAME)
    for obj in render_scenario("everything"):
        assert obj["metadata"]["labels"]["cost-center"] == "research"
