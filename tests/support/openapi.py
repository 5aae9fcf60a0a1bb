"""The OpenAPI documents the emulator serves, as far as kubectl reads them.

kubectl reads ``/openapi/v3`` (an index of group-versions) and ``/openapi/v3/apis/<g>/<v>``:

- ``kubectl explain`` finds a kind's schema by its ``x-kubernetes-group-version-kind``;
- ``kubectl apply/create/patch --validate=strict`` (the default) asks whether a kind's PATCH
  operation takes the ``fieldValidation`` query parameter: when it does, the server
  validates (what the emulator does, see ``admission``); when no PATCH path is found for
  the kind at all, kubectl refuses to send anything.

So every served resource gets collection (POST) and item (GET/PUT/PATCH/DELETE) paths with
the parameters a real server declares; CRDs bring their own schema, built-in kinds get an
open object (no built-in schema is emulated). ``/openapi/v2`` carries the same schemas as
Swagger 2.0 definitions, for older clients.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.support.apiserver import Emulator, Kind

SERVER_VERSION = "v1.32.0"
_WRITE_PARAMETERS = [
    {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True},
     "description": description}
    for name, description in (
        ("dryRun", "All: check the request, store nothing."),
        ("fieldManager", "Name of the actor making the change."),
        ("fieldValidation", "Ignore, Warn or Strict handling of unknown fields."),
    )
]


def document(emulator: Emulator, path: str) -> dict[str, Any]:
    """The document at ``path`` (``/openapi/v2``, ``/openapi/v3``, ``/openapi/v3/<gv path>``)."""
    kinds = list(_kinds(emulator))
    if path == "/openapi/v2":
        return _swagger(kinds)
    if path == "/openapi/v3":
        index: dict[str, Any] = {}
        for gv_path in sorted({_gv_path(kind) for kind in kinds}):
            body = json.dumps(_v3(kinds, gv_path), sort_keys=True).encode()
            digest = hashlib.sha256(body).hexdigest()[:32]
            index[gv_path] = {"serverRelativeURL": f"/openapi/v3/{gv_path}?hash={digest}"}
        return {"paths": index}
    gv_path = path.removeprefix("/openapi/v3/")
    if gv_path not in {_gv_path(kind) for kind in kinds}:
        from tests.support.apiserver import ApiError

        raise ApiError(404, "NotFound", f"no OpenAPI document for {gv_path}")
    return _v3(kinds, gv_path)


def _kinds(emulator: Emulator) -> list[Kind]:
    found = []
    for resource in list(emulator.resources):
        if not (resource.plural and resource.version is not None and resource.group is not None):
            continue
        kind = emulator.kind_of(resource.group, resource.version, resource.plural)
        if kind is not None and "/" not in resource.plural:
            found.append(kind)
    return found


def _gv_path(kind: Kind) -> str:
    return "api/v1" if not kind.group else f"apis/{kind.group}/{kind.version}"


def schema_name(kind: Kind) -> str:
    """``dev.carbs.v1alpha1.CarbsStudy``, ``io.k8s.api.core.v1.Pod``: the server's names."""
    if kind.custom:
        reverse = ".".join(reversed(kind.group.split(".")))
        return f"{reverse}.{kind.version}.{kind.kind}"
    group = kind.group.split(".")[0] if kind.group else "core"
    return f"io.k8s.api.{group}.{kind.version}.{kind.kind}"


def _gvk(kind: Kind) -> list[dict[str, str]]:
    return [{"group": kind.group, "version": kind.version, "kind": kind.kind}]


def _schema(kind: Kind) -> dict[str, Any]:
    if kind.schema:
        out = json.loads(json.dumps(kind.schema))
        props = out.setdefault("properties", {})
        props["metadata"] = {
            "description": "Standard object's metadata (name, namespace, labels, ...).",
            "type": "object", "x-kubernetes-preserve-unknown-fields": True,
        }
    else:
        loose = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        out = {"description": f"{kind.kind} (schema not emulated).", "type": "object",
               "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                              "metadata": loose, "spec": loose, "status": loose},
               "x-kubernetes-preserve-unknown-fields": True}
    out["x-kubernetes-group-version-kind"] = _gvk(kind)
    return out


def _operation(kind: Kind, verb: str, action: str, write: bool) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema_name(kind)}"}
    operation: dict[str, Any] = {
        "operationId": f"{action}{kind.kind}",
        "tags": [kind.group or "core"],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": _gvk(kind)[0],
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": ref}}}},
    }
    if write:
        operation["parameters"] = list(_WRITE_PARAMETERS)
    if verb in ("post", "put", "patch"):
        media = ["application/json"] if verb != "patch" else [
            "application/json-patch+json", "application/merge-patch+json",
            "application/apply-patch+yaml",
        ] + ([] if kind.custom else ["application/strategic-merge-patch+json"])
        operation["requestBody"] = {"content": {m: {"schema": ref} for m in media},
                                    "required": True}
    return operation


def _paths(kind: Kind) -> dict[str, Any]:
    base = "/api/v1" if not kind.group else f"/apis/{kind.group}/{kind.version}"
    if kind.namespaced:
        base += "/namespaces/{namespace}"
    collection = f"{base}/{kind.plural}"
    item = f"{collection}/{{name}}"
    paths: dict[str, Any] = {
        collection: {"get": _operation(kind, "get", "list", False),
                     "post": _operation(kind, "post", "post", True)},
        item: {"get": _operation(kind, "get", "get", False),
               "put": _operation(kind, "put", "put", True),
               "patch": _operation(kind, "patch", "patch", True),
               "delete": _operation(kind, "delete", "delete", True)},
    }
    if kind.has_status:
        paths[f"{item}/status"] = {"get": _operation(kind, "get", "get", False),
                                   "put": _operation(kind, "put", "put", True),
                                   "patch": _operation(kind, "patch", "patch", True)}
    return paths


def _v3(kinds: list[Kind], gv_path: str) -> dict[str, Any]:
    chosen = [kind for kind in kinds if _gv_path(kind) == gv_path]
    paths: dict[str, Any] = {}
    for kind in chosen:
        paths.update(_paths(kind))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION},
        "paths": paths,
        "components": {"schemas": {schema_name(kind): _schema(kind) for kind in chosen}},
    }


def _swagger(kinds: list[Kind]) -> dict[str, Any]:
    definitions = {}
    for kind in kinds:
        schema = _schema(kind)
        definitions[schema_name(kind)] = _v2_schema(schema)
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": SERVER_VERSION},
            "paths": {}, "definitions": definitions}


def _v2_schema(node: Any) -> Any:
    """Swagger 2.0 has no ``nullable``; the rest of a structural schema carries over."""
    if isinstance(node, Mapping):
        return {key: _v2_schema(value) for key, value in node.items() if key != "nullable"}
    if isinstance(node, list):
        return [_v2_schema(value) for value in node]
    return node
