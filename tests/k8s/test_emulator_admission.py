"""The emulator tells the truth a real API server would: admission of custom resources
(schema, CEL, transition rules, unknown fields), dry runs, the OpenAPI documents, Tables
and core discovery. Each check names the real behaviour it stands for."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.k8s.conftest import GV, study
from tests.support.emulator import ApiError, Cluster
from tests.support.tables import human_age

STUDIES = "/apis/carbs.dev/v1alpha1/namespaces/default/carbsstudies"


async def test_schema_and_cel_are_enforced_on_create_update_and_patch(cluster: Cluster) -> None:
    bad = study()
    bad["spec"]["parameters"][0]["min"] = 5.0  # min >= max: a CEL rule
    with pytest.raises(ApiError) as refused:
        await cluster.create(bad)
    assert refused.value.status == 422
    causes = refused.value.body["details"]["causes"]
    assert any(c["field"].startswith("spec.parameters[0]") and c["reason"] == "FieldValueInvalid"
               and "min must be less than max" in c["message"] for c in causes), causes
    with pytest.raises(ApiError) as missing:
        await cluster.create({**study(), "spec": {"parallelism": 1}})
    assert "spec.objective: Required value" in missing.value.body["message"]
    created = await cluster.create(study())
    with pytest.raises(ApiError) as schema:  # minimum: 1
        await cluster.patch(GV, "carbsstudies", "default", "quad", {"spec": {"parallelism": 0}})
    assert "spec.parallelism: Invalid value: 0" in schema.value.body["message"]
    created["spec"]["objective"]["metric"] = "accuracy"  # PUT: a transition rule
    with pytest.raises(ApiError) as replaced:
        await cluster.replace(created)
    assert "spec.objective: Invalid value" in replaced.value.body["message"]
    with pytest.raises(ApiError):  # a JSON patch too
        await cluster.patch(GV, "carbsstudies", "default", "quad", [
            {"op": "replace", "path": "/spec/parameters/0/max", "value": 0.5}])
    # A status write must fit the status schema as well.
    with pytest.raises(ApiError) as status:
        await cluster.patch(GV, "carbsstudies", "default", "quad",
                            {"status": {"phase": "Exploded"}}, subresource="status")
    assert "status.phase" in status.value.body["message"]


async def test_unknown_fields_refused_under_strict_pruned_with_a_warning_otherwise(
    cluster: Cluster,
) -> None:
    body = study(bogus=1)
    with pytest.raises(ApiError) as strict:
        await cluster.request("POST", STUDIES, body=body, params={"fieldValidation": "Strict"})
    assert strict.value.status == 400
    assert 'strict decoding error: unknown field "spec.bogus"' in strict.value.body["message"]
    async with aiohttp.ClientSession() as session, \
            session.post(cluster.url + STUDIES, json=body) as response:
        assert response.status == 201
        assert response.headers.getall("Warning") == ['299 - "unknown field \\"spec.bogus\\""']
        stored = await response.json()
    assert "bogus" not in stored["spec"]


async def test_dry_run_is_answered_never_stored(cluster: Cluster) -> None:
    answered = await cluster.request("POST", STUDIES, body=study(), params={"dryRun": "All"})
    assert answered["metadata"]["name"] == "quad"
    assert await cluster.find(GV, "carbsstudies", "default", "quad") is None
    created = await cluster.create(study())
    await cluster.request("PATCH", f"{STUDIES}/quad", body={"spec": {"parallelism": 5}},
                          params={"dryRun": "All"}, content_type="application/merge-patch+json")
    await cluster.request("DELETE", f"{STUDIES}/quad", params={"dryRun": "All"})
    kept = await cluster.get(GV, "carbsstudies", "default", "quad")
    assert kept["spec"]["parallelism"] == 2
    assert kept["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_openapi_documents(cluster: Cluster) -> None:
    index = await cluster.request("GET", "/openapi/v3")
    url = index["paths"]["apis/carbs.dev/v1alpha1"]["serverRelativeURL"]
    assert "api/v1" in index["paths"]
    document = await cluster.request("GET", url.split("?")[0])
    schema = document["components"]["schemas"]["dev.carbs.v1alpha1.CarbsStudy"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "carbs.dev", "version": "v1alpha1", "kind": "CarbsStudy"}]
    patch = document["paths"][f"{STUDIES.replace('default', '{namespace}')}/{{name}}"]["patch"]
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    swagger = await cluster.request("GET", "/openapi/v2")
    assert swagger["swagger"] == "2.0"
    assert "spec" in swagger["definitions"]["dev.carbs.v1alpha1.CarbsStudy"]["properties"]


async def test_tables_with_printer_columns_and_core_discovery(cluster: Cluster) -> None:
    await cluster.create(study())
    await cluster.patch(GV, "carbsstudies", "default", "quad", {"status": {
        "phase": "Running", "progress": "1/6", "trials": {"running": 2}}}, subresource="status")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with aiohttp.ClientSession() as session, \
            session.get(cluster.url + STUDIES, headers={"Accept": accept}) as response:
        table: dict[str, Any] = await response.json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Phase", "Done", "Running", "Best", "Total-Cost", "Age"]
    (row,) = table["rows"]
    assert row["cells"][:5] == ["quad", "Running", "1/6", 2, None]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    core = await cluster.request("GET", "/api/v1")
    assert core["groupVersion"] == "v1"
    assert all(not r["shortNames"] for r in core["resources"] if "/" in r["name"])


def test_ages_read_as_the_api_server_writes_them() -> None:
    import datetime

    now = datetime.datetime(2026, 1, 2, 12, 0, 0, tzinfo=datetime.UTC)

    def ago(seconds: int) -> str:
        then = now - datetime.timedelta(seconds=seconds)
        return human_age(then.strftime("%Y-%m-%dT%H:%M:%SZ"), now)

    assert [ago(5), ago(150), ago(600), ago(4 * 3600 + 60), ago(30 * 3600),
            ago(3 * 86400 + 7200)] == ["5s", "2m30s", "10m", "4h1m", "30h", "3d2h"]
