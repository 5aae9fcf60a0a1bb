"""The study UI's web server: one page, its packaged assets, and a read-only JSON API.

The server only routes and serialises. Every number comes from a `StudySource` (local
SQLite state or the cluster), whose methods are synchronous and may be slow, so each call
runs in a small bounded thread pool and never on the event loop; JSON encoding and gzip of
large bodies run there too. Nothing here changes anything: only GET and HEAD are routed,
so every other method is answered 405 by the router itself.

Safety by default: a strict Content-Security-Policy on every response (scripts, styles,
fetches only from this origin; no plugins, frames or <base>), nosniff, no referrer, errors
as short JSON without tracebacks, and, when bound to a loopback address, only loopback Host
headers (a web page elsewhere cannot read a local study through DNS rebinding).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import math
import signal
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, TypeVar

from aiohttp import web

from carbs_operator.ui.source import StudyNotFoundError, StudySource

log = logging.getLogger(__name__)

T = TypeVar("T")

# ECharts and Tabulator set element styles through the CSSOM (allowed by style-src 'self');
# tooltips are built as DOM nodes, so no inline style attribute is ever needed.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
])
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".md": "text/plain; charset=utf-8",
    ".LICENSE": "text/plain; charset=utf-8",
    ".NOTICE": "text/plain; charset=utf-8",
}
# Vendored files carry their version in their name, so a browser may keep them for good;
# our own files are revalidated (a cheap 304) so an upgrade shows at once.
VENDOR_CACHE = "public, max-age=31536000, immutable"
OWN_CACHE = "no-cache"
GZIP_MIN_BYTES = 1400

SOURCE: web.AppKey[StudySource] = web.AppKey("source", StudySource)
POOL: web.AppKey[ThreadPoolExecutor] = web.AppKey("pool", ThreadPoolExecutor)
ASSETS: web.AppKey[dict[str, Asset]] = web.AppKey("assets", dict)
CACHE: web.AppKey[EncodedCache] = web.AppKey("cache")
ALLOWED_HOSTS: web.AppKey[frozenset[str] | None] = web.AppKey("allowed_hosts")


@dataclass
class Asset:
    """One packaged file, read once; its gzip form is made on first demand."""

    body: bytes
    content_type: str
    etag: str
    cache_control: str
    gzipped: bytes | None = field(default=None, repr=False)


def _etag(*parts: str) -> str:
    return '"' + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32] + '"'


def _walk(root: Traversable, prefix: str = "") -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for entry in root.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            assets.update(_walk(entry, name + "/"))
            continue
        suffix = "." + entry.name.rsplit(".", 1)[-1] if "." in entry.name else ""
        content_type = CONTENT_TYPES.get(suffix)
        if content_type is None:
            continue
        body = entry.read_bytes()
        assets[name] = Asset(
            body=body, content_type=content_type,
            etag=_etag("static", name, hashlib.sha256(body).hexdigest()),
            cache_control=VENDOR_CACHE if name.startswith("vendor/") else OWN_CACHE,
        )
    return assets


def load_assets() -> dict[str, Asset]:
    """Every file of the package's static/ folder, by its path under it."""
    return _walk(resources.files("carbs_operator.ui") / "static")


def _finite(value: Any) -> Any:
    """The value with every non-finite float as null: one NaN must not break the page
    (JSON.parse rejects NaN), and the contract promises finite numbers or null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def encode_json(value: Any) -> bytes:
    """Compact JSON; non-finite floats become null."""
    try:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)
    return text.encode()


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


def _wants_gzip(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "")


def _matches(request: web.Request, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weak comparison, as RFC 9110 asks)."""
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags


async def _in_pool(request: web.Request, function: Callable[..., T], *args: Any) -> T:
    """Runs a slow synchronous call in the app's bounded pool, off the event loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app[POOL], function, *args)


async def _json(request: web.Request, compute: Callable[[], Any], *,
                etag_kind: str | None = None, cache: str = "no-cache") -> web.Response:
    """Computes (in the pool) and sends a JSON body, gzipped when the client takes it;
    with `etag_kind`, an ETag from the body's hash (a repeated poll transfers nothing)."""
    compress = _wants_gzip(request)

    def run() -> tuple[bytes, bool, str | None]:
        body = encode_json(compute())
        tag = _etag(etag_kind, hashlib.sha256(body).hexdigest()) if etag_kind else None
        if compress and len(body) >= GZIP_MIN_BYTES:
            return gzip.compress(body, compresslevel=5, mtime=0), True, tag
        return body, False, tag

    body, gzipped, tag = await _in_pool(request, run)
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    if tag is not None:
        if _matches(request, tag):
            return _not_modified(tag)
        headers["ETag"] = tag
    return web.Response(body=body, content_type="application/json", headers=headers)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)


def _not_modified(etag: str) -> web.Response:
    return web.Response(status=304, headers={"ETag": etag, "Cache-Control": "no-cache"})


# --- handlers -------------------------------------------------------------------------------


async def _asset(request: web.Request, name: str) -> web.StreamResponse:
    asset = request.app[ASSETS].get(name)
    if asset is None:
        return web.Response(status=404, text="not found\n")
    headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control,
               "Vary": "Accept-Encoding"}
    if _matches(request, asset.etag):
        return web.Response(status=304, headers=headers)
    body = asset.body
    if _wants_gzip(request) and len(body) >= GZIP_MIN_BYTES:
        gzipped = asset.gzipped
        if gzipped is None:
            gzipped = asset.gzipped = await _in_pool(request, _gzip, body)
        body = gzipped
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers={**headers, "Content-Type": asset.content_type})


async def index(request: web.Request) -> web.StreamResponse:
    return await _asset(request, "index.html")


async def static(request: web.Request) -> web.StreamResponse:
    return await _asset(request, request.match_info["path"])


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})


async def studies(request: web.Request) -> web.Response:
    source = request.app[SOURCE]
    return await _json(request, source.studies, etag_kind="studies")


async def revision(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    source = request.app[SOURCE]
    return await _json(request, lambda: {"revision": source.revision(key)}, cache="no-store")


class EncodedCache:
    """Encoded JSON bodies of studies' derived views by (kind, key, revision), newest kept.

    A view is a function of the study's revision, so once encoded it is served again as
    bytes: a reload or a second tab costs one revision() call, not a source call (which
    may reread the whole study) and a multi-megabyte encode. Thread-safe; bounded.
    """

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str, str], Encoded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, item: tuple[str, str, str]) -> Encoded | None:
        with self._lock:
            found = self._items.get(item)
            if found is not None:
                self._items.move_to_end(item)
            return found

    def put(self, item: tuple[str, str, str], encoded: Encoded) -> None:
        with self._lock:
            self._items[item] = encoded
            self._items.move_to_end(item)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class Encoded:
    """One JSON body, and its gzip form once a client has asked for it."""

    body: bytes
    etag: str
    gzipped: bytes | None = field(default=None, repr=False)


async def _by_revision(request: web.Request, kind: str, compute: Callable[[str], Any],
                       revision_of: Callable[[str, Any], str | None]) -> web.Response:
    """A study's derived JSON with an ETag from its revision: a poll that finds the study
    unchanged costs one revision() call and a 304; another client at the same revision
    gets the cached bytes. `revision_of(key, value)` says which revision a computed value
    belongs to (None: unknown, so it is sent but not cached)."""
    key = request.match_info["key"]
    source = request.app[SOURCE]
    cache = request.app[CACHE]
    current = await _in_pool(request, source.revision, key)
    etag = _etag(kind, key, current)
    if _matches(request, etag):
        return _not_modified(etag)
    compress = _wants_gzip(request)

    def run() -> tuple[bytes, bool, str]:
        encoded = cache.get((kind, key, current))
        if encoded is None:
            value = compute(key)
            belongs = revision_of(key, value)
            encoded = Encoded(encode_json(value), _etag(kind, key, belongs or current))
            if belongs == current:
                cache.put((kind, key, current), encoded)
        if compress and len(encoded.body) >= GZIP_MIN_BYTES:
            if encoded.gzipped is None:
                encoded.gzipped = gzip.compress(encoded.body, compresslevel=5, mtime=0)
            return encoded.gzipped, True, encoded.etag
        return encoded.body, False, encoded.etag

    body, gzipped, tag = await _in_pool(request, run)
    headers = {"Cache-Control": "no-cache", "Vary": "Accept-Encoding", "ETag": tag}
    if gzipped:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, content_type="application/json", headers=headers)


async def view(request: web.Request) -> web.Response:
    # The view names the revision it was computed at (the study may move between calls).
    return await _by_revision(request, "view", request.app[SOURCE].view,
                              lambda key, value: str(value.get("revision")))


def _revision_after(request: web.Request) -> Callable[[str, Any], str | None]:
    """The study's revision read again after a computation: the value is cached only when
    it did not move meanwhile (the value itself does not name its revision)."""
    source = request.app[SOURCE]
    return lambda key, value: source.revision(key)


async def curves(request: web.Request) -> web.Response:
    return await _by_revision(request, "curves", request.app[SOURCE].curves,
                              _revision_after(request))


async def importance(request: web.Request) -> web.Response:
    return await _by_revision(request, "importance", request.app[SOURCE].importance,
                              _revision_after(request))


async def trial(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    index = int(request.match_info["index"])
    source = request.app[SOURCE]
    found = await _in_pool(request, source.trial, key, index)
    if found is None:
        return _error(404, f"no trial {index} in this study")
    return await _json(request, lambda: found)


async def predict(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    text = request.query.get("cost", "").strip()
    try:
        cost = float(text)
    except ValueError:
        cost = math.nan
    if not (math.isfinite(cost) and cost > 0):
        shown = text if len(text) <= 40 else text[:40] + "…"
        return _error(400, f"cost must be a positive finite number such as 1e18, not {shown!r}")
    source = request.app[SOURCE]
    return await _json(request, lambda: source.predict(key, cost))


# --- middleware and app ---------------------------------------------------------------------


@web.middleware
async def _errors(request: web.Request,
                  handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """Short JSON errors, never a traceback; an unknown study is a 404."""
    allowed = request.app[ALLOWED_HOSTS]
    if allowed is not None and (request.url.host or "").strip("[]") not in allowed:
        return _error(421, "this server answers only to a loopback Host name")
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        extra = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return _error(exc.status, exc.reason, extra)
    except StudyNotFoundError:
        return _error(404, "no such study")
    except Exception:
        log.exception("carbs ui: %s %s failed", request.method, request.path)
        return _error(500, "internal error (the server's log has the details)")


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def _close_pool(app: web.Application) -> None:
    app[POOL].shutdown(wait=False, cancel_futures=True)


def make_app(source: StudySource, *, workers: int = 4,
             allowed_hosts: Collection[str] | None = None) -> web.Application:
    """The UI as an aiohttp application over `source` (GET/HEAD routes only).

    `workers` bounds the threads that call the source; `allowed_hosts`, when given, is the
    set of Host names (without port) the server answers to.
    """
    app = web.Application(middlewares=[_errors])
    app[SOURCE] = source
    app[POOL] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="carbs-ui")
    app[ASSETS] = load_assets()
    app[CACHE] = EncodedCache()
    app[ALLOWED_HOSTS] = frozenset(allowed_hosts) if allowed_hosts is not None else None
    app.on_response_prepare.append(_security_headers)
    app.on_cleanup.append(_close_pool)
    app.router.add_get("/", index)
    app.router.add_get("/static/{path:[A-Za-z0-9_./-]+}", static)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/studies", studies)
    app.router.add_get("/api/studies/{key}", view)
    app.router.add_get("/api/studies/{key}/revision", revision)
    app.router.add_get("/api/studies/{key}/curves", curves)
    app.router.add_get("/api/studies/{key}/importance", importance)
    app.router.add_get("/api/studies/{key}/predict", predict)
    app.router.add_get("/api/studies/{key}/trials/{index:[0-9]{1,9}}", trial)
    return app


@dataclass
class RunningServer:
    """A started server: its URL (the real port when 0 was asked) and how to stop it."""

    url: str
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.runner.cleanup()


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


async def start(source: StudySource, host: str = "127.0.0.1", port: int = 8080, *,
                workers: int = 4) -> RunningServer:
    """Starts serving on the running loop and returns at once (tests, benchmarks, serve)."""
    allowed = LOOPBACK_HOSTS if host in LOOPBACK_HOSTS else None
    runner = web.AppRunner(make_app(source, workers=workers, allowed_hosts=allowed),
                           access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return RunningServer(url=_url(host, int(bound)), runner=runner)


async def serve_async(source: StudySource, host: str = "127.0.0.1", port: int = 8080, *,
                      workers: int = 4, stop: asyncio.Event | None = None) -> None:
    """Serves until `stop` is set, or SIGINT/SIGTERM arrives; prints the URL first."""
    running = await start(source, host, port, workers=workers)
    print(f"carbs ui: serving on {running.url}  (Ctrl-C stops)", flush=True)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # not the main thread
            pass
    try:
        await stop.wait()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        await running.stop()


def serve(source: StudySource, host: str = "127.0.0.1", port: int = 8080, *,
          workers: int = 4) -> None:
    """Serves the UI until SIGINT/SIGTERM (blocking); binds 127.0.0.1 unless told."""
    asyncio.run(serve_async(source, host, port, workers=workers))
