"""Patch formats and CRD structural-schema behaviour, as the API server applies them on writes.

- JSON merge patch (RFC 7386): ``null`` deletes, objects merge, everything else replaces.
  kmock's own merge refuses to replace a scalar by a mapping; a real server does not refuse.
- JSON patch (RFC 6902) through ``jsonpatch`` (a dependency of kmock), ``test`` included.
- Strategic merge patch is treated as a merge patch: lists are replaced, never merged by key, and
  ``$patch`` directives are not understood. A real server refuses it for custom resources (415),
  and so does the emulator by default.
- Pruning and defaulting from a CRD's ``openAPIV3Schema`` (apiextensions.k8s.io/v1 always
  prunes): unknown fields vanish unless ``x-kubernetes-preserve-unknown-fields``, missing fields
  that declare a ``default`` get it. Without this, an operator that writes a status field its
  CRD does not declare passes here and silently loses the field on a real cluster.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import jsonpatch


class PatchError(ValueError):
    """A JSON patch that cannot be applied, a failed ``test`` op included (422 upstream)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 merge patch; neither argument is mutated."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result: dict[str, Any] = dict(copy.deepcopy(target)) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Mapping[str, Any], operations: list[Any]) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch; raise ``PatchError`` when any op (``test`` too) fails."""
    try:
        patched = jsonpatch.JsonPatch(operations).apply(copy.deepcopy(dict(target)))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError,
            KeyError, IndexError) as exc:
        raise PatchError(str(exc)) from exc
    if not isinstance(patched, dict):
        raise PatchError("the patched document is not an object")
    return patched


def prune_and_default(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """Drop the fields a structural schema does not know, fill in declared defaults (in place)."""
    if schema is None or schema.get("x-kubernetes-int-or-string"):
        return value
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        for key in list(value):
            if key in properties:
                value[key] = prune_and_default(value[key], properties[key])
            elif isinstance(additional, Mapping):
                value[key] = prune_and_default(value[key], additional)
            elif not preserve and not additional and (properties or schema.get("type") == "object"):
                del value[key]
        for key, sub_schema in properties.items():
            if key not in value and "default" in sub_schema:
                value[key] = prune_and_default(copy.deepcopy(sub_schema["default"]), sub_schema)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [prune_and_default(item, schema["items"]) for item in value]
    return value


def prune_custom_object(obj: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Prune and default a whole custom resource; apiVersion, kind, metadata are never pruned."""
    kept = {key: obj[key] for key in ("apiVersion", "kind", "metadata") if key in obj}
    rest = {key: value for key, value in obj.items() if key not in kept}
    pruned = prune_and_default(rest, schema)
    return {**kept, **pruned}
