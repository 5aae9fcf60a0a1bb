"""Server-side printing: ``Table`` answers, as ``kubectl get`` asks for them.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...`` and prints the
columns the server chose. For a custom resource those are Name, then the CRD's
``additionalPrinterColumns`` (each a JSONPath evaluated against the object; ``date``
columns shown as an age such as ``5m``), or Name and Age when it declares none. Built-in
kinds get Name and Age here (their specific columns are not emulated).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    """Whether the first media type kubectl would accept is a v1 Table."""
    first = accept.split(",")[0]
    return TABLE_MEDIA in first and "g=meta.k8s.io" in first


def human_age(stamp: str | None, now: datetime.datetime | None = None) -> str:
    """The API server's short duration (``HumanDuration``): 12s, 3m20s, 5h, 3d4h, 400d."""
    if not stamp:
        return "<unknown>"
    moment = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    now = now or datetime.datetime.now(datetime.UTC)
    seconds = int((now - moment).total_seconds())
    if seconds < -1:
        return "<invalid>"
    seconds = max(seconds, 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    return f"{days}d"


def json_path(obj: Any, path: str) -> Any:
    """A printer column's simple JSONPath (``.status.bestTrial.objective``); None if absent."""
    value = obj
    for part in path.strip().lstrip(".").split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _cell(obj: Mapping[str, Any], column: Mapping[str, Any]) -> Any:
    value = json_path(obj, column["jsonPath"])
    if column.get("type") == "date":
        return human_age(value) if isinstance(value, str) else None
    if isinstance(value, dict | list):
        return str(value)
    return value


def table(items: list[dict[str, Any]], columns: list[Mapping[str, Any]] | None,
          resource_version: str, include_object: str = "Metadata") -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``items`` with the CRD's printer columns (or Name, Age)."""
    if not columns:
        columns = [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp",
                    "description": "Time since creation."}]
    definitions = [{"name": "Name", "type": "string", "format": "name", "priority": 0,
                    "description": "Name must be unique within a namespace."}]
    definitions += [{"name": c["name"], "type": c.get("type", "string"),
                     "format": c.get("format", ""), "priority": c.get("priority", 0),
                     "description": c.get("description", "")} for c in columns]
    rows = []
    for obj in items:
        row: dict[str, Any] = {
            "cells": [obj["metadata"]["name"], *(_cell(obj, c) for c in columns)]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions, "rows": rows}
