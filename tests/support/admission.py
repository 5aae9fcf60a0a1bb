"""What the API server checks before it stores a custom resource, for the emulator.

A write of a custom resource goes through these steps on a real server, in this order, and
the emulator follows them so tests see the answers a user would:

1. unknown fields: with ``fieldValidation=Strict`` (kubectl's default) they refuse the write
   (400 BadRequest, ``strict decoding error: unknown field "spec.foo"``); otherwise they are
   pruned, with a ``Warning`` header under ``Warn``;
2. nulls of non-nullable fields are dropped, then fields are pruned and defaulted
   (``structural.prune_and_default``);
3. the OpenAPI v3 schema must hold (``openapi-schema-validator``);
4. every ``x-kubernetes-validations`` CEL rule must hold with ``self`` bound to its node
   (``cel-python``); rules that mention ``oldSelf`` (transition rules) run on updates only,
   where the node exists in both the old and the new object (list-map items are matched by
   their keys; items of other lists are not matched, as on a real server).

A failure is a 422 Invalid whose message and ``details.causes`` have the API server's shape,
so kubectl prints ``The CarbsStudy "x" is invalid: spec.objective: Invalid value: ...``.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.evaluation import CELEvalError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.support import structural


@dataclass(frozen=True)
class Cause:
    """One reason a write is refused: the field path, the API server's reason and message."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def as_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def unknown_fields(value: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Paths of the fields a structural schema would prune (apiVersion/kind/metadata kept)."""
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
            return [found for i, item in enumerate(value)
                    for found in unknown_fields(item, schema["items"], f"{path}[{i}]")]
        return []
    properties: Mapping[str, Any] = schema.get("properties") or {}
    additional = schema.get("additionalProperties")
    found = []
    for key, child in value.items():
        where = f"{path}.{key}" if path else key
        if not path and key in ("apiVersion", "kind", "metadata"):
            continue
        if key in properties:
            found += unknown_fields(child, properties[key], where)
        elif isinstance(additional, Mapping):
            found += unknown_fields(child, additional, where)
        elif not additional:
            found.append(where)
    return found


def drop_nulls(value: Any, schema: Mapping[str, Any]) -> Any:
    """Nulls of fields that are not ``nullable`` vanish before defaulting, as upstream."""
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        out = {}
        for key, child in value.items():
            sub = properties.get(key, additional if isinstance(additional, Mapping) else {})
            if child is None and not sub.get("nullable"):
                continue
            out[key] = drop_nulls(child, sub)
        return out
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        return [drop_nulls(item, items) for item in value]
    return value


def admit(obj: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Steps 2: the object as it would be stored (nulls dropped, pruned, defaulted)."""
    cleaned = drop_nulls(copy.deepcopy(obj), schema)
    kept = {key: obj[key] for key in ("apiVersion", "kind", "metadata") if key in obj}
    return structural.prune_custom_object({**cleaned, **kept}, schema)


def validation_causes(new: Mapping[str, Any], old: Mapping[str, Any] | None,
                      schema: Mapping[str, Any]) -> list[Cause]:
    """Steps 3 and 4 on an admitted object; ``old`` is the stored one on an update."""
    body = {k: v for k, v in new.items() if k != "metadata"}
    validator = OAS30Validator(_without_metadata(schema), format_checker=oas30_format_checker)
    causes = []
    for error in validator.iter_errors(body):
        where = ".".join(str(p) for p in error.absolute_path)
        if error.validator == "required":
            missing = str(error.message).split("'")[1]
            causes.append(Cause(f"{where}.{missing}" if where else missing, "Required value",
                                "FieldValueRequired"))
            continue
        value = json.dumps(error.instance) if not isinstance(error.instance, dict | list) \
            else f'"{"object" if isinstance(error.instance, dict) else "array"}"'
        causes.append(Cause(where, f"Invalid value: {value}: {error.message}"))
    if causes:  # CEL rules assume a schema-valid object, as in Kubernetes
        return causes
    old_body = None if old is None else {k: v for k, v in old.items() if k != "metadata"}
    return _cel_causes(body, old_body, schema, "")


def _without_metadata(schema: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    out["properties"] = {k: v for k, v in (schema.get("properties") or {}).items()
                         if k != "metadata"}
    return out


def _children(value: Any, old: Any, schema: Mapping[str, Any],
              ) -> list[tuple[str, Any, Any, Mapping[str, Any]]]:
    """(path suffix, child, the old object's matching child or None, child schema)."""
    if isinstance(value, dict):
        props: Mapping[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        olds = old if isinstance(old, dict) else {}
        return [(f".{k}", v, olds.get(k), props.get(k, extra if isinstance(extra, Mapping)
                                                       else {}))
                for k, v in value.items()]
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        keys = schema.get("x-kubernetes-list-map-keys") \
            if schema.get("x-kubernetes-list-type") == "map" else None
        matched: dict[tuple[Any, ...], Any] = {}
        if keys and isinstance(old, list):
            matched = {tuple(o.get(k) for k in keys): o for o in old if isinstance(o, dict)}
        return [(f"[{i}]", v,
                 matched.get(tuple(v.get(k) for k in keys)) if keys and isinstance(v, dict)
                 else None, items)
                for i, v in enumerate(value)]
    return []


@functools.cache
def _program(rule: str) -> celpy.Runner:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_causes(value: Any, old: Any, schema: Mapping[str, Any], path: str) -> list[Cause]:
    causes = []
    for rule in schema.get("x-kubernetes-validations") or []:
        text = rule["rule"]
        activation = {"self": to_cel(value, schema)}
        if "oldSelf" in text:
            if old is None:
                continue  # transition rules run only where an old value exists
            activation["oldSelf"] = to_cel(old, schema)
        try:
            result: object = _program(text).evaluate(activation)
        except CELEvalError as exc:
            result = exc
        if not (isinstance(result, celtypes.BoolType) and bool(result)):
            where = path + str(rule.get("fieldPath") or "")
            shown = '"object"' if isinstance(value, dict) else '"array"' \
                if isinstance(value, list) else json.dumps(value)
            causes.append(Cause(where.lstrip("."),
                                f"Invalid value: {shown}: {rule.get('message') or text}"))
    for suffix, child, old_child, sub in _children(value, old, schema):
        causes += _cel_causes(child, old_child, sub, path + suffix)
    return causes


def to_cel(value: Any, schema: Mapping[str, Any]) -> Any:
    """A JSON value as CEL sees it under this schema (``type: number`` is always a double)."""
    if isinstance(value, dict):
        return celtypes.MapType({celtypes.StringType(k[1:]): to_cel(v, sub)
                                 for k, v, _, sub in _children(value, None, schema)})
    if isinstance(value, list):
        return celtypes.ListType([to_cel(v, sub) for _, v, _, sub in _children(value, None,
                                                                                 schema)])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int) and schema.get("type") != "number":
        return celtypes.IntType(value)
    if isinstance(value, int | float):
        return celtypes.DoubleType(float(value))
    return celtypes.StringType(value)


def invalid_message(kind: str, group: str, name: str, causes: list[Cause]) -> str:
    """The API server's message for a 422: ``Kind.group "name" is invalid: field: ...``."""
    listed = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    if len(causes) > 1:
        listed = f"[{listed}]"
    return f'{kind}.{group} "{name}" is invalid: {listed}'
