"""values.yaml and values.schema.json describe the same values.

The schema is kept by hand beside values.yaml: no well-kept generator installs here (the
helm-values-schema-json plugin is a Go program for Helm's plugin system, nothing on PyPI
does it), and one generated from values.yaml alone could not say what this schema says
(patterns, enums, ranges, the fields a security context must keep, watch's if/then). So
this test holds the two together instead:

- every key of values.yaml is a property of the schema, of the same JSON type;
- every property of the schema is a key of values.yaml, or one that values.yaml leaves
  unset and names in the comment above its top-level key (or, for a top-level one, in
  the file's opening comment): Kubernetes' optional fields of a security context, say;
- values.yaml passes the schema, and every key of it is documented by a comment above it,
  above a key it sits in, or above each of the keys it holds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import yaml

from tests.chart.chart_support import CHART

VALUES_TEXT = (CHART / "values.yaml").read_text(encoding="utf-8")
VALUES = yaml.safe_load(VALUES_TEXT)
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))

JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
              dict: "object", type(None): "null"}


def schema_types(node: dict[str, Any]) -> set[str]:
    """The JSON types a schema node admits (its `type`, or the types of its anyOf/oneOf)."""
    if "type" in node:
        declared = node["type"]
        return set(declared) if isinstance(declared, list) else {declared}
    return {t for key in ("anyOf", "oneOf") for option in node.get(key, [])
            for t in schema_types(option)}


def admits(node: dict[str, Any], value: Any) -> bool:
    kind = JSON_TYPES[type(value)]
    types = schema_types(node)
    return kind in types or (kind == "integer" and "number" in types)


def walk(node: dict[str, Any], value: Any, path: tuple[str, ...]) -> Iterator[
        tuple[str, tuple[str, ...]]]:
    """('values-only' | 'schema-only' | 'type', path) for each disagreement below path."""
    props = node.get("properties")
    if props is None or not isinstance(value, dict):
        return
    for key, child in value.items():
        if key not in props:
            yield "values-only", (*path, key)
        elif not admits(props[key], child):
            yield "type", (*path, key)
        else:
            yield from walk(props[key], child, (*path, key))
    for key in props:
        if key not in value:
            yield "schema-only", (*path, key)


def comment_above(key: str) -> str:
    """The comment lines directly above a top-level key of values.yaml; for "" the file's
    opening comment."""
    lines = VALUES_TEXT.splitlines()
    if key == "":
        end = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    else:
        end = next(i for i, line in enumerate(lines) if re.match(rf"{key}:( |$)", line))
    start = end
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "\n".join(lines[start:end])


def test_values_pass_the_schema() -> None:
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(VALUES)


def test_every_key_of_values_yaml_is_in_the_schema_with_its_type() -> None:
    wrong = [(what, ".".join(path)) for what, path in walk(SCHEMA, VALUES, ())
             if what != "schema-only"]
    assert wrong == []


def test_every_schema_property_is_in_values_yaml_or_named_above_its_key() -> None:
    unnamed = []
    for what, path in walk(SCHEMA, VALUES, ()):
        if what != "schema-only":
            continue
        top, rest = (path[0], path[1:]) if len(path) > 1 else ("", path)
        if f"`{'.'.join(rest)}`" not in comment_above(top):
            unnamed.append(".".join(path))
    assert unnamed == [], "set these in values.yaml or name them in its comment"


def test_the_walk_finds_what_it_should() -> None:
    """The checks above are not vacuous: a stray key, a wrong type and an unset property."""
    node = {"properties": {"a": {"type": "integer"}, "b": {"type": "object", "properties": {
        "c": {"anyOf": [{"type": "null"}, {"type": "string"}]}, "d": {"type": "boolean"}}}}}
    assert sorted(walk(node, {"a": "1", "b": {"c": None, "e": 1}}, ())) == [
        ("schema-only", ("b", "d")), ("type", ("a",)), ("values-only", ("b", "e"))]


def test_every_key_of_values_yaml_is_documented() -> None:
    """A comment directly above the key, above a key it sits in, or above each key it holds
    (a block like `watch:` whose fields are each explained)."""
    keys = []  # (line, indent, key, has a comment directly above)
    lines = VALUES_TEXT.splitlines()
    for number, line in enumerate(lines):
        found = re.match(r"^( *)([A-Za-z][A-Za-z0-9]*):", line)
        if found:
            above = next((lines[i] for i in range(number - 1, -1, -1) if lines[i].strip()), "")
            keys.append((number, len(found.group(1)), found.group(2),
                         above.lstrip().startswith("#")))

    def parent(i: int) -> int | None:
        return next((j for j in range(i - 1, -1, -1) if keys[j][1] < keys[i][1]), None)

    def commented_above(i: int | None) -> bool:
        while i is not None:
            if keys[i][3]:
                return True
            i = parent(i)
        return False

    def documented(i: int) -> bool:
        children = [j for j in range(i + 1, len(keys)) if parent(j) == i]
        return commented_above(i) or (bool(children) and all(documented(j) for j in children))

    assert len(keys) > 100
    undocumented = [f"line {keys[i][0] + 1}: {keys[i][2]}" for i in range(len(keys))
                    if not documented(i)]
    assert undocumented == []
