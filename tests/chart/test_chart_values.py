"""values.schema.json accepts the documented values and rejects the wrong ones.

Helm validates the coalesced values (defaults merged with the user's, nulls deleting keys)
against the schema before it renders anything, so a typo or a wrong type fails `helm
install` with the key's path instead of silently rendering something else. Each case runs
through Helm's validator (helm-python-sdk) and through Python's jsonschema, so the schema
means the same to both.
"""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import jsonschema
import pytest
import yaml

from tests.chart.chart_support import CHART, of_kind, only, render

SCHEMA = json.loads((CHART / "values.schema.json").read_text())

BAD_VALUES: dict[str, dict[str, Any]] = {
    "negative replicas": {"replicas": -1},
    "replicas as a string": {"replicas": "2"},
    "namespaces as a string": {"watch": {"allNamespaces": False, "namespaces": "x"}},
    "unknown top-level key": {"replica": 2},
    "unknown nested key": {"image": {"tags": "1.0"}},
    "namespaces while watching all": {"watch": {"namespaces": ["team-a"]}},
    "no namespace to watch": {"watch": {"allNamespaces": False, "namespaces": []}},
    "a glob as namespace": {"watch": {"allNamespaces": False, "namespaces": ["team-*"]}},
    "an invalid namespace name": {"watch": {"allNamespaces": False, "namespaces": ["Team_A"]}},
    "a namespace listed twice": {"watch": {"allNamespaces": False, "namespaces": ["a", "a"]}},
    "unknown pull policy": {"image": {"pullPolicy": "Sometimes"}},
    "malformed digest": {"image": {"digest": "sha256:xyz"}},
    "unknown device": {"operator": {"device": "tpu"}},
    "unknown metrics collector": {"metricsCollectors": ["Stdout"]},
    "unknown trial kind": {"trialKinds": ["Job", "MPIJob"]},
    "no trial kind": {"trialKinds": []},
    "a metrics collector twice": {"metricsCollectors": ["Report", "Report"]},
    "port out of range": {"metrics": {"port": 70000}},
    "pdb budget in words": {"pdb": {"enabled": True, "minAvailable": "half"}},
    "interval without unit": {"serviceMonitor": {"interval": "30"}},
    "unknown service type": {"service": {"type": "ExternalName"}},
    "security context deleted": {"podSecurityContext": None},
    "security field deleted": {"containerSecurityContext": {"readOnlyRootFilesystem": None}},
    "capabilities not dropped": {"containerSecurityContext": {"capabilities": {"drop": None}}},
    "unknown security field": {"containerSecurityContext": {"runAsRoot": True}},
    "wrong type in a string map": {"podLabels": {"team": 1}},
}

GOOD_VALUES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "namespaced": {"watch": {"allNamespaces": False, "namespaces": ["team-a", "team-b"]}},
    "percent budget": {"pdb": {"enabled": True, "maxUnavailable": "50%"}},
    "explicitly not non-root": {"podSecurityContext": {"runAsNonRoot": False, "runAsUser": 0},
                                "containerSecurityContext": {"runAsNonRoot": False,
                                                             "runAsUser": 0}},
    "writable root": {"containerSecurityContext": {"readOnlyRootFilesystem": False}},
    "zero replicas": {"replicas": 0},
    "as a subchart": {"global": {"imageRegistry": "mirror.example"}},
}


def _python_errors(values: dict[str, Any]) -> list[str]:
    """jsonschema's verdict on what Helm would validate: the coalesced values."""
    with helm.Chart.load(CHART) as chart:
        merged = chart.merge_values(values)
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(merged)]


def test_schema_is_a_valid_draft7_schema_and_accepts_the_defaults() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(SCHEMA).validate(defaults)


def test_every_default_key_is_in_the_schema() -> None:
    """The schema is strict: a key in values.yaml that it does not declare would fail."""
    assert SCHEMA["additionalProperties"] is False
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(defaults) <= set(SCHEMA["properties"])


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_bad_values_are_rejected(case: str) -> None:
    values = BAD_VALUES[case]
    with helm.Chart.load(CHART) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)
    assert _python_errors(values), "jsonschema accepted what Helm rejected"


@pytest.mark.parametrize("case", sorted(GOOD_VALUES))
def test_good_values_are_accepted(case: str) -> None:
    values = GOOD_VALUES[case]
    with helm.Chart.load(CHART) as chart:
        chart.validate_schema(values)
    assert _python_errors(values) == []
    assert render(values)


def test_render_refuses_values_the_schema_rejects() -> None:
    """The schema guards `helm install`/`helm template` themselves, not just a lint step."""
    with pytest.raises(helm.HelmValuesError, match="replicas"):
        render({"replicas": -1})


def test_weakening_the_security_context_takes_an_explicit_value() -> None:
    """Decision: a restricted field may be relaxed, but only by naming it.

    The schema requires every restricted field, so deleting one (null) or the whole block
    is rejected (see BAD_VALUES); setting `runAsNonRoot: false` is accepted and rendered as
    written, while the fields not named stay restricted.
    """
    deployment = only(of_kind(render(GOOD_VALUES["explicitly not non-root"]), "Deployment"))
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is False
    assert pod["securityContext"]["runAsUser"] == 0
    assert container["runAsNonRoot"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["allowPrivilegeEscalation"] is False
