"""What the Kubernetes API server does to a custom resource before storing it, in Python.

There is no API server here, so tests replay its admission steps against the generated CRD
schema: the object must survive JSON encoding (no NaN or infinity), nulls are pruned,
unknown fields are errors (kubectl's default strict field validation), the OpenAPI schema
must hold, list-map keys and list-set items must be unique, and every
x-kubernetes-validations CEL rule must evaluate to true with `self` bound to its node,
numbers typed as the schema says (CEL keeps int and double apart, and Kubernetes converts
per schema).
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import celpy
from celpy import celtypes
from celpy.evaluation import CELEvalError
from openapi_schema_validator import OAS30Validator, oas30_format_checker


def admission_errors(obj: Any, crd: dict[str, Any]) -> list[str]:
    """Why the API server would reject `obj` for this CRD; [] if it would store it."""
    try:
        wire = json.loads(json.dumps(obj, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return [f"not encodable as JSON: {exc}"]
    wire = _prune_nulls(wire)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    validator = OAS30Validator(_strict(schema), format_checker=oas30_format_checker)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
              for e in validator.iter_errors(wire)]
    if errors:  # CEL rules assume a schema-valid object, as in Kubernetes
        return errors
    return _list_map_errors(wire, schema, "") + _cel_errors(wire, schema, "")


def _prune_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prune_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune_nulls(v) for v in value]
    return value


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with unknown fields forbidden wherever they are not preserved."""
    out = copy.deepcopy(schema)

    def visit(node: dict[str, Any]) -> None:
        if "properties" in node:
            if not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for sub in node["properties"].values():
                visit(sub)
        if isinstance(node.get("items"), dict):
            visit(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            visit(node["additionalProperties"])

    visit(out)
    return out


def _children(value: Any, schema: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any]]]:
    if isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return [(f".{k}", v, props.get(k, extra if isinstance(extra, dict) else {}))
                for k, v in value.items()]
    if isinstance(value, list):
        return [(f"[{i}]", v, schema.get("items", {})) for i, v in enumerate(value)]
    return []


def _list_map_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    if schema.get("x-kubernetes-list-type") == "map" and isinstance(value, list):
        keys = schema["x-kubernetes-list-map-keys"]
        seen = set()
        for item in value:
            key = tuple(item.get(k) for k in keys)
            if key in seen:
                errors.append(f"{path}: Duplicate value: {dict(zip(keys, key, strict=True))}")
            seen.add(key)
    if schema.get("x-kubernetes-list-type") == "set" and isinstance(value, list):
        scalars = [json.dumps(item, sort_keys=True) for item in value]
        errors += [f"{path}[{i}]: Duplicate value: {item}"
                   for i, item in enumerate(scalars) if item in scalars[:i]]
    for suffix, child, sub in _children(value, schema):
        errors += _list_map_errors(child, sub, path + suffix)
    return errors


@functools.cache
def _program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    errors = []
    for rule in schema.get("x-kubernetes-validations", []):
        if "oldSelf" in rule["rule"]:
            continue  # transition rules do not run on create
        try:
            result: object = _program(rule["rule"]).evaluate({"self": to_cel(value, schema)})
        except CELEvalError as exc:
            result = exc
        if not (isinstance(result, celtypes.BoolType) and bool(result)):
            errors.append(f"{path or '<root>'}: {rule['message']}")
    for suffix, child, sub in _children(value, schema):
        errors += _cel_errors(child, sub, path + suffix)
    return errors


def to_cel(value: Any, schema: dict[str, Any]) -> Any:
    """A JSON value as CEL sees it under this schema (`type: number` is always a double)."""
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(k[1:]): to_cel(v, sub)
                                 for k, v, sub in _children(value, schema)})
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v, sub) for _, v, sub in _children(value, schema)])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    # The API server decodes a JSON integer outside int64 as a double (hypothesis sent
    # 2**63 as a search center, and celpy's IntType refused it with "overflow").
    if isinstance(value, int) and schema.get("type") != "number" and -2**63 <= value < 2**63:
        return celtypes.IntType(value)
    if isinstance(value, int | float):
        return celtypes.DoubleType(float(value))
    return celtypes.StringType(value)
