"""ui.enabled: the read-only study UI as its own Deployment, Service and ServiceAccount,
with read-only RBAC and the same restricted pod security and probes as the operator."""

from __future__ import annotations

from typing import Any

from tests.chart.chart_support import FULLNAME, NAMESPACE, of_kind, render

UI = f"{FULLNAME}-ui"


def _ui(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [o for o in render(values) if o["metadata"]["name"] == UI]


def _rules(role: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def test_off_by_default() -> None:
    assert _ui({}) == []


def test_enabled_deploys_a_read_only_ui() -> None:
    objects = _ui({"ui": {"enabled": True}, "watch": {"allNamespaces": True}})
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service",
                     "ServiceAccount"]
    [role] = of_kind(objects, "ClusterRole")
    assert _rules(role) == {
        ("carbs.dev", "carbsstudies", "get"), ("carbs.dev", "carbsstudies", "list"),
        ("carbs.dev", "carbsstudies", "watch"), ("carbs.dev", "carbstrials", "get"),
        ("carbs.dev", "carbstrials", "list"), ("carbs.dev", "carbstrials", "watch"),
        ("", "pods", "list"), ("", "pods/log", "get"),
    }
    [deployment] = of_kind(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == UI
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["command"][:3] == ["carbs", "ui", "--cluster"]
    assert "--host=0.0.0.0" in container["command"]
    assert container["args"] == ["--all-namespaces"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    [service] = of_kind(objects, "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "ui"


def test_listed_namespaces_get_roles_and_no_logs_when_asked() -> None:
    objects = _ui({"ui": {"enabled": True, "podLogs": False},
                   "watch": {"allNamespaces": False, "namespaces": ["team-a", "team-b"]}})
    roles = of_kind(objects, "Role")
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert of_kind(objects, "ClusterRole") == []
    for role in roles:
        assert {r[1] for r in _rules(role)} == {"carbsstudies", "carbstrials"}
        assert {r[2] for r in _rules(role)} == {"get", "list", "watch"}
    [deployment] = of_kind(objects, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["--namespace=team-a", "--namespace=team-b"]
    for binding in of_kind(objects, "RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": UI,
                                        "namespace": NAMESPACE}]


def test_ui_objects_lint_and_validate_strictly() -> None:
    """helm lint --strict and kubernetes-validate's strict schemas, oldest and newest."""
    import helm_python as helm
    import kubernetes_validate

    from tests.chart.chart_support import CHART, kube_versions

    for values in ({"ui": {"enabled": True}},
                   {"ui": {"enabled": True}, "watch": {"allNamespaces": False,
                                                       "namespaces": ["team-a"]}}):
        report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE)
        assert [m for m in report["messages"] if m["severity"] >= 2] == []
        for version in kube_versions():
            for obj in _ui(values):
                kubernetes_validate.validate(obj, version, strict=True)
