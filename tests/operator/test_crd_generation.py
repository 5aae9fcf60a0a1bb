"""The generated CRDs: fresh on disk, structural, documented, and internally consistent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from pydantic import BaseModel

from carbs_operator import crd

ROOT = Path(__file__).resolve().parents[2]
CRDS = crd.all_crds()
REGENERATE = "crds/ is stale: regenerate it with `carbs crds --write crds/` and commit the result"


def _schema(definition: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("definition", CRDS, ids=crd.file_name)
def test_checked_in_crd_matches_models(definition: dict[str, Any]) -> None:
    path = ROOT / "crds" / crd.file_name(definition)
    assert path.exists(), REGENERATE
    assert path.read_text(encoding="utf-8") == crd.to_yaml(definition), REGENERATE


def test_rendered_stream_parses_back_to_both_crds() -> None:
    documents = list(yaml.safe_load_all(crd.render_all()))
    assert documents == CRDS


@pytest.mark.parametrize("definition", CRDS, ids=crd.file_name)
def test_schema_is_structural(definition: dict[str, Any]) -> None:
    for path, node in _nodes(_schema(definition)):
        assert not {"$ref", "$defs", "anyOf", "oneOf", "allOf", "not", "const"} & set(node), path
        assert "type" in node or node.get("x-kubernetes-preserve-unknown-fields"), path
        assert node.get("additionalProperties") is not False, path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert not node.get("uniqueItems"), path
        for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            assert node.get(flag, True) is True, f"{path}: OpenAPI 3.0 {flag} is a boolean"
            assert flag not in node or bound in node, path
            assert not isinstance(node.get(bound), bool), f"{path}: {bound} must be a number"
        if "default" in node:
            assert not list(OAS30Validator(node).iter_errors(node["default"])), path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []) or "default" in item["properties"][key]


@pytest.mark.parametrize("definition", CRDS, ids=crd.file_name)
def test_every_field_is_documented(definition: dict[str, Any]) -> None:
    """`kubectl explain` shows these descriptions; an undocumented field teaches nothing."""
    for path, node in _nodes(_schema(definition)):
        if path and not path.endswith(("[]", "{}")) and path != ".metadata":
            assert node.get("description"), f"{path} has no description"
            assert "\n" not in node["description"], path


@pytest.mark.parametrize("definition", CRDS, ids=crd.file_name)
def test_cel_rules_compile_and_name_real_fields(definition: dict[str, Any]) -> None:
    env = celpy.Environment()
    count = 0
    for path, node in _nodes(_schema(definition)):
        for rule in node.get("x-kubernetes-validations", []):
            count += 1
            env.compile(rule["rule"])
            assert rule["message"]
            assert "\n" not in rule["message"]
            # `self.all(...)` on a map or list is a macro, not a field.
            fields = set(re.findall(r"self\.(\w+)(?!\w*\()", rule["rule"]))
            assert fields <= set(node.get("properties", {})), (path, rule["rule"])
            if "fieldPath" in rule:
                assert rule["fieldPath"].lstrip(".") in node["properties"], (path, rule)
    assert count >= 2


@pytest.mark.parametrize("definition", CRDS, ids=crd.file_name)
def test_printer_columns_point_into_the_schema(definition: dict[str, Any]) -> None:
    version = definition["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    kinds = {"string": "string", "integer": "integer", "number": "number"}
    for column in version["additionalPrinterColumns"]:
        if column["jsonPath"] == ".metadata.creationTimestamp":
            assert column["type"] == "date"
            continue
        node = _schema(definition)
        for part in column["jsonPath"].strip(".").split("."):
            node = node["properties"][part]
        assert kinds[node["type"]] == column["type"], column


def test_names_and_printer_columns() -> None:
    study, trial = CRDS
    assert study["metadata"]["name"] == "carbsstudies.carbs.dev"
    assert trial["metadata"]["name"] == "carbstrials.carbs.dev"
    for definition in CRDS:
        names = definition["spec"]["names"]
        assert names["categories"] == ["carbs"]
        assert "cs" not in names["shortNames"]  # componentstatuses owns `cs`
        assert definition["spec"]["scope"] == "Namespaced"
    columns = [c["name"] for c in study["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns == ["Phase", "Done", "Running", "Best", "Total-Cost", "Age"]


def test_optional_fields_are_not_required_and_not_null() -> None:
    spec = _schema(CRDS[0])["properties"]["spec"]
    assert set(spec["required"]) == {"objective", "cost", "parameters", "budget", "trialTemplate"}
    goal = spec["properties"]["budget"]["properties"]["goal"]
    assert goal == {"description": goal["description"], "type": "number"}
    suggestion_cost = spec["properties"]["maxSuggestionCost"]
    assert suggestion_cost["minimum"] == 0
    assert suggestion_cost["exclusiveMinimum"] is True


def test_unknown_template_fields_are_preserved() -> None:
    template = _schema(CRDS[0])["properties"]["spec"]["properties"]["trialTemplate"]
    job = template["properties"]["spec"]
    container = job["properties"]["template"]["properties"]["spec"]["properties"]["containers"]
    assert job["x-kubernetes-preserve-unknown-fields"] is True
    assert container["items"]["x-kubernetes-preserve-unknown-fields"] is True


def test_unsupported_union_is_an_error() -> None:
    class Bad(BaseModel):
        value: int | str

    with pytest.raises(crd.SchemaError, match="union"):
        crd.structural(Bad.model_json_schema())


def test_write_crds(tmp_path: Path) -> None:
    written = crd.write_crds(tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(crd.file_name(d) for d in CRDS)
    assert all(p.read_text().startswith("# Generated") for p in written)
