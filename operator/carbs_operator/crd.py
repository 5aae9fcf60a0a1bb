"""CustomResourceDefinitions generated from the pydantic models.

Kubernetes accepts only *structural* schemas: every node typed, no `$ref`, no `anyOf` of
types, no `additionalProperties: false`, OpenAPI v3.0's boolean `exclusiveMinimum`. Pydantic
emits JSON Schema 2020-12, so `structural()` rewrites it: refs inlined (the referring
field's description wins over the referenced model's), `Optional` reduced to "not
required", `extra="allow"` turned into `x-kubernetes-preserve-unknown-fields`. The CEL rules
and list-map markers come from the models' `json_schema_extra`, untouched.

The generated YAML is checked in under crds/ so the Helm chart and `kubectl apply` need no
Python; a test fails when it is stale (regenerate with `carbs crds --write crds/`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from carbs_operator.errors import CarbsOperatorError
from carbs_operator.models import GROUP, STUDY_KIND, TRIAL_KIND, VERSION, CarbsStudy, CarbsTrial

HEADER = (
    "# Generated from carbs_operator.models by `carbs crds --write crds/`; do not edit.\n"
)
CATEGORIES = ["carbs"]
_DROPPED = {"title", "$defs"}
_KEPT = {
    "type", "format", "enum", "default", "minimum", "maximum", "minLength", "maxLength",
    "pattern", "minItems", "maxItems", "minProperties", "maxProperties", "required", "nullable",
}
# JSON Schema 2020-12 numeric exclusive bounds and pydantic's raw constraint names (emitted
# for Optional fields), as OpenAPI 3.0 (bound, boolean flag) pairs.
_BOUNDS = {
    "exclusiveMinimum": ("minimum", "exclusiveMinimum"), "gt": ("minimum", "exclusiveMinimum"),
    "exclusiveMaximum": ("maximum", "exclusiveMaximum"), "lt": ("maximum", "exclusiveMaximum"),
    "ge": ("minimum", ""), "le": ("maximum", ""),
}
_RULE_ORDER = ["rule", "message", "fieldPath"]
_RULES = "x-kubernetes-validations"
# Key order of emitted schema nodes, for YAML a reader can follow; others go last.
_ORDER = [
    "description", "type", "format", "enum", "default", "minimum", "exclusiveMinimum",
    "maximum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems",
    "maxItems", "required", "properties", "additionalProperties", "items",
]


class SchemaError(CarbsOperatorError, ValueError):
    """A model uses a construct that has no structural OpenAPI equivalent."""


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """A pydantic JSON schema rewritten as a Kubernetes structural OpenAPI v3 schema."""
    return _convert(schema, schema.get("$defs", {}))


def _convert(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    node = dict(node)
    if "$ref" in node:
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        # The model's own CEL rules and the referring field's (e.g. an immutability rule)
        # both hold: concatenated, where every other key of the field wins.
        rules = [*target.get(_RULES, []), *node.get(_RULES, [])]
        node = {**target, **node}
        if rules:
            node[_RULES] = rules
    out: dict[str, Any] = {}
    if "anyOf" in node:
        branches = [b for b in node.pop("anyOf") if b.get("type") != "null"]
        if len(branches) != 1:
            raise SchemaError(f"cannot express a union of {len(branches)} types: {branches}")
        out = _convert(branches[0], defs)
        if node.get("default", 0) is None:
            del node["default"]
    out.update(_convert_keys(node, defs))
    if "type" not in out and "x-kubernetes-preserve-unknown-fields" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True  # `Any`: accept whatever is there
    if out.get("type") == "object" and "properties" in out:
        out.pop("additionalProperties", None)
    return _ordered(out)


def _convert_keys(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = _convert(value, defs)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out[key] = _convert(value, defs)
        elif key in _BOUNDS:
            bound, exclusive = _BOUNDS[key]
            out[bound] = value
            if exclusive:
                out[exclusive] = True
        elif key == "const":
            out["enum"] = [value]
        elif key == "description":
            out[key] = " ".join(value.split())
        elif key == "x-kubernetes-validations":
            out[key] = [_ordered(rule, _RULE_ORDER) for rule in value]
        elif key in _KEPT or key.startswith("x-kubernetes-"):
            out[key] = value
        else:
            raise SchemaError(f"no structural-schema equivalent for {key!r} in {node}")
    return out


def _ordered(node: dict[str, Any], order: list[str] = _ORDER) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(order)}
    return dict(sorted(node.items(), key=lambda item: rank.get(item[0], len(rank))))


def resource_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The openAPIV3Schema of a kind; apiVersion, kind and metadata are the API server's."""
    schema = structural(model.model_json_schema(mode="validation"))
    props = schema["properties"]
    props["apiVersion"] = {"description": "API version, carbs.dev/v1alpha1.", "type": "string"}
    props["kind"] = {"description": "Kind of the object.", "type": "string"}
    props["metadata"] = {"type": "object"}
    schema["required"] = ["spec"]
    return schema


def _column(name: str, kind: str, path: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": kind, "jsonPath": path, "description": description, **extra}


def _crd(
    model: type[BaseModel], kind: str, plural: str, short: str, columns: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{GROUP}",
            "labels": {"app.kubernetes.io/part-of": "carbs-operator"},
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": [short],
                "categories": CATEGORIES,
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": resource_schema(model)},
            }],
        },
    }


def study_crd() -> dict[str, Any]:
    """The CarbsStudy CRD. Short name `cstudy`: `cs` is taken by componentstatuses."""
    return _crd(CarbsStudy, STUDY_KIND, "carbsstudies", "cstudy", [
        _column("Phase", "string", ".status.phase", "Study phase."),
        _column("Done", "string", ".status.progress", "Finished trials / maxTrials."),
        _column("Running", "integer", ".status.trials.running", "Trials running now."),
        _column("Best", "number", ".status.bestTrial.objective", "Best objective so far."),
        _column("Total-Cost", "number", ".status.totalCost", "Summed cost of trials."),
        _column("Age", "date", ".metadata.creationTimestamp", "Time since creation."),
    ])


def trial_crd() -> dict[str, Any]:
    """The CarbsTrial CRD."""
    return _crd(CarbsTrial, TRIAL_KIND, "carbstrials", "ctrial", [
        _column("Study", "string", ".spec.study", "Study of the trial."),
        _column("Index", "integer", ".spec.index", "Index within the study."),
        _column("Phase", "string", ".status.phase", "Trial phase."),
        _column("Objective", "number", ".status.objective", "Objective of the result."),
        _column("Cost", "number", ".status.cost", "Cost of the trial."),
        _column("Job", "string", ".status.jobName", "Job running the trial.", priority=1),
        _column("Age", "date", ".metadata.creationTimestamp", "Time since creation."),
    ])


def all_crds() -> list[dict[str, Any]]:
    """Both CRDs, study first."""
    return [study_crd(), trial_crd()]


def file_name(crd: dict[str, Any]) -> str:
    """`carbsstudies.carbs.dev.yaml`: the CRD's own name, as the checked-in files are named."""
    return f"{crd['metadata']['name']}.yaml"


def to_yaml(crd: dict[str, Any]) -> str:
    """One CRD as YAML, deterministic so the checked-in files can be compared as text."""
    plain = json.loads(json.dumps(crd))  # no shared objects, so no YAML anchors
    return HEADER + yaml.safe_dump(plain, sort_keys=False, width=100, allow_unicode=True)


def render_all() -> str:
    """Both CRDs as one multi-document YAML stream, for `kubectl apply -f -`."""
    return "---\n".join(to_yaml(crd) for crd in all_crds())


def write_crds(directory: str | Path) -> list[Path]:
    """Write each CRD to `directory/<name>.yaml`; returns the paths written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for crd in all_crds():
        path = out / file_name(crd)
        path.write_text(to_yaml(crd), encoding="utf-8")
        paths.append(path)
    return paths
