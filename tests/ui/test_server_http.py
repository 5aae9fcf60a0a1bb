"""The UI server over plain HTTP (aiohttp's test client, no browser): routes, methods,
headers, errors and the ETag that makes polling cheap."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from carbs_operator.ui.server import make_app
from tests.ui.fake_source import FakeSource, make_study

pytestmark = pytest.mark.asyncio


@pytest.fixture
def source() -> FakeSource:
    return FakeSource([make_study("alpha", 30), make_study("beta", 5, seed=1)])


@pytest.fixture
async def client(source: FakeSource) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    async with TestClient(TestServer(make_app(source))) as client:
        yield client


async def test_every_response_carries_the_security_headers(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/", "/healthz", "/api/studies", "/api/studies/alpha", "/nowhere",
                 "/static/app.js", "/api/studies/zzz"):
        response = await client.get(path)
        csp = response.headers["Content-Security-Policy"]
        for directive in ("script-src 'self'", "connect-src 'self'", "object-src 'none'",
                          "base-uri 'none'", "frame-ancestors 'none'", "img-src 'self' data:"):
            assert directive in csp, (path, directive)
        assert "unsafe-eval" not in csp
        assert "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_nothing_but_get_and_head(client: TestClient, method: str) -> None:  # type: ignore[type-arg]
    for path in ("/", "/api/studies", "/api/studies/alpha", "/api/studies/alpha/trials/1",
                 "/static/app.js"):
        response = await client.request(method, path, data=b"{}")
        assert response.status == 405, (method, path)
        assert "GET" in response.headers["Allow"]
        assert "error" in await response.json()


async def test_head_is_answered(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.head("/api/studies/alpha")
    assert response.status == 200


async def test_unknown_study_and_trial_are_404(client: TestClient) -> None:  # type: ignore[type-arg]
    for path in ("/api/studies/nope", "/api/studies/nope/revision", "/api/studies/nope/curves",
                 "/api/studies/nope/importance", "/api/studies/nope/trials/0",
                 "/api/studies/nope/predict?cost=1e9", "/api/studies/alpha/trials/999"):
        response = await client.get(path)
        assert response.status == 404, path
        assert set(await response.json()) == {"error"}


@pytest.mark.parametrize("cost", ["", "abc", "-5", "0", "nan", "inf", "1e999"])
async def test_bad_cost_is_400_with_a_clear_message(client: TestClient, cost: str) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/studies/alpha/predict", params={"cost": cost})
    assert response.status == 400
    assert "positive finite number" in (await response.json())["error"]


async def test_predict_answers_at_a_typed_cost(client: TestClient) -> None:  # type: ignore[type-arg]
    response = await client.get("/api/studies/alpha/predict?cost=1e14")
    body = await response.json()
    assert response.status == 200
    assert body["cost"] == 1e14
    assert "objectiveInterval" in body


async def test_the_api_routes_serve_the_sources_json(
        client: TestClient, source: FakeSource) -> None:  # type: ignore[type-arg]
    assert await (await client.get("/api/studies")).json() == source.studies()
    assert await (await client.get("/api/studies/alpha")).json() == source.view("alpha")
    assert await (await client.get("/api/studies/alpha/curves")).json() == source.curves("alpha")
    assert (await (await client.get("/api/studies/alpha/importance")).json()
            == source.importance("alpha"))
    assert (await (await client.get("/api/studies/alpha/trials/3")).json()
            == source.trial("alpha", 3))
    assert (await (await client.get("/api/studies/alpha/revision")).json()
            == {"revision": source.revision("alpha")})
    assert (await client.get("/healthz")).status == 200


async def test_the_view_etag_answers_304_until_the_study_moves(
        client: TestClient, source: FakeSource) -> None:  # type: ignore[type-arg]
    first = await client.get("/api/studies/alpha")
    etag = first.headers["ETag"]
    again = await client.get("/api/studies/alpha", headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    source.by_key["alpha"].add_trial()
    moved = await client.get("/api/studies/alpha", headers={"If-None-Match": etag})
    assert moved.status == 200
    assert moved.headers["ETag"] != etag


async def test_errors_never_leak_a_traceback(
        client: TestClient, source: FakeSource, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[type-arg]
    def broken(key: str) -> object:
        raise RuntimeError("secret internal detail /etc/passwd")

    monkeypatch.setattr(source, "view", broken)
    response = await client.get("/api/studies/alpha")
    assert response.status == 500
    text = await response.text()
    assert "secret" not in text
    assert "Traceback" not in text


async def test_static_assets_have_types_caching_and_gzip(client: TestClient) -> None:  # type: ignore[type-arg]
    page = await client.get("/")
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Cache-Control"] == "no-cache"
    script = await client.get("/static/app.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    vendor = await client.get("/static/vendor/echarts-6.1.0.esm.min.mjs",
                              headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert vendor.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in vendor.headers["Cache-Control"]
    assert vendor.headers["Content-Encoding"] == "gzip"
    assert b"Apache Software Foundation" in gzip.decompress(await vendor.read())[:200]
    css = await client.get("/static/app.css")
    assert css.headers["Content-Type"].startswith("text/css")
    cached = await client.get("/static/app.css", headers={"If-None-Match": css.headers["ETag"]})
    assert cached.status == 304
    for path in ("/static/../server.py", "/static/nothing.js", "/static/%2e%2e/source.py"):
        assert (await client.get(path)).status == 404, path


async def test_a_foreign_host_header_is_refused_when_bound_to_loopback(
        source: FakeSource) -> None:
    app = make_app(source, allowed_hosts={"127.0.0.1", "localhost"})
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/studies")).status == 200
        evil = await client.get("/api/studies", headers={"Host": "evil.example:8080"})
        assert evil.status == 421


async def test_a_second_client_at_the_same_revision_gets_cached_bytes(
        client: TestClient, source: FakeSource, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[type-arg]
    calls: list[str] = []
    view = source.view

    def counting(key: str) -> dict[str, object]:
        calls.append(key)
        return view(key)

    monkeypatch.setattr(source, "view", counting)
    first = await client.get("/api/studies/beta")
    second = await client.get("/api/studies/beta", headers={"Accept-Encoding": "gzip"})
    assert await first.json() == await second.json()
    assert calls == ["beta"]
    source.by_key["beta"].add_trial()
    moved = await client.get("/api/studies/beta")
    assert calls == ["beta", "beta"]
    assert (await moved.json())["revision"] == source.revision("beta")
