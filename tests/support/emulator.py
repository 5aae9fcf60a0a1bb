"""A running API emulator on 127.0.0.1 and the ways tests talk to it.

``start_cluster()`` (and the ``cluster`` fixture in ``fixtures.py``) runs the ``Emulator`` in the
test's event loop behind kmock's HTTP server on a random free port of 127.0.0.1, and gives a
``Cluster``:

- ``url``, ``kubeconfig(path)`` (for a subprocess ``carbs operator`` or anything reading
  ``KUBECONFIG``), ``connection_info()`` (for a kopf login handler, see ``kopf_harness``),
- ``api_client()``: the blocking ``kubernetes`` client. It must only be used from a worker
  thread (``await asyncio.to_thread(...)``): the emulator serves from this very event loop,
  so a blocking call made on the loop would wait forever for an answer that cannot come.
- async helpers speaking HTTP with aiohttp: ``create``, ``get``, ``find``, ``list``,
  ``patch``, ``replace``, ``delete``, ``watch``, ``wait_for``. They mark their requests exempt
  from fault injection, so a test's own setup never fails by chance.

Objects are plain dicts, addressed as ``(group_version, plural, namespace, name)``, e.g.
``await cluster.get("carbs.dev/v1alpha1", "carbstrials", "default", "quad-0")``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import inspect
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import aiohttp
import kmock
import kopf
import kubernetes.client
import yaml

from tests.support.apiserver import Emulator, Faults

T = TypeVar("T")
EXEMPT_HEADER = "X-Emulator-Exempt"


class ApiError(Exception):
    """A non-2xx answer to a helper's request; ``body`` is the API server's Status object."""

    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        self.reason = body.get("reason", "") if isinstance(body, Mapping) else ""
        message = body.get("message", body) if isinstance(body, Mapping) else body
        super().__init__(f"{status} {self.reason}: {message}")


def api_path(group_version: str, plural: str, namespace: str | None = None,
             name: str | None = None, subresource: str | None = None) -> str:
    """The URL path of a collection or object (``v1`` means the core group)."""
    path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    if namespace is not None:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name is not None:
        path += f"/{name}"
    if subresource is not None:
        path += f"/{subresource}"
    return path


class Cluster:
    """One running emulator: its address, clients for it and async helpers (see module doc)."""

    def __init__(self, emulator: Emulator, server: kmock.Server) -> None:
        self.emulator = emulator
        self.server = server
        self.url = str(server.url).rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(self.url, headers={EXEMPT_HEADER: "1"})
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------------ clients

    def kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> Path:
        """Write a kubeconfig for this emulator (plain HTTP, a dummy token) and return its path."""
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator"}}],
            "contexts": [{"name": "emulator", "context": {
                "cluster": "emulator", "user": "emulator", "namespace": namespace}}],
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    def api_client(self) -> kubernetes.client.ApiClient:
        """The blocking client, configured for this emulator. Call it from a thread only."""
        configuration = kubernetes.client.Configuration(host=self.url)
        return kubernetes.client.ApiClient(configuration)

    def connection_info(self, default_namespace: str = "default") -> kopf.ConnectionInfo:
        """What a ``@kopf.on.login`` handler returns to point kopf at this emulator."""
        return kopf.ConnectionInfo(server=self.url, insecure=True,
                                   default_namespace=default_namespace)

    # ------------------------------------------------------------------------ helpers

    async def request(self, method: str, path: str, *, body: Any = None,
                      params: Mapping[str, str] | None = None,
                      content_type: str = "application/json") -> Any:
        """One HTTP request; the decoded JSON answer, or ``ApiError`` for a non-2xx status."""
        if self._session is None:
            raise RuntimeError("the cluster is not running")
        data = None if body is None else json.dumps(body)
        async with self._session.request(method, path, data=data, params=params,
                                         headers={"Content-Type": content_type}) as response:
            text = await response.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text
            if response.status >= 400:
                raise ApiError(response.status, payload)
            return payload

    async def create(self, obj: Mapping[str, Any], namespace: str | None = None) -> dict[str, Any]:
        """Create an object from its manifest (apiVersion and kind pick the resource)."""
        kind = self.emulator.find_kind(obj["apiVersion"], obj["kind"])
        if kind.namespaced:
            namespace = namespace or (obj.get("metadata") or {}).get("namespace") or "default"
        else:
            namespace = None
        result: dict[str, Any] = await self.request(
            "POST", api_path(kind.api_version, kind.plural, namespace), body=obj)
        return result

    async def get(self, group_version: str, plural: str, namespace: str | None, name: str, *,
                  subresource: str | None = None) -> dict[str, Any]:
        """Read one object; ``ApiError`` (404) when it does not exist."""
        result: dict[str, Any] = await self.request(
            "GET", api_path(group_version, plural, namespace, name, subresource))
        return result

    async def find(self, group_version: str, plural: str, namespace: str | None,
                   name: str) -> dict[str, Any] | None:
        """Read one object, or None when it does not exist."""
        try:
            return await self.get(group_version, plural, namespace, name)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def list(self, group_version: str, plural: str, namespace: str | None = None, *,
                   label_selector: str | None = None,
                   field_selector: str | None = None) -> builtins.list[dict[str, Any]]:
        """The items of a list (all namespaces when ``namespace`` is None)."""
        params = {key: value for key, value in (("labelSelector", label_selector),
                                                ("fieldSelector", field_selector)) if value}
        result = await self.request("GET", api_path(group_version, plural, namespace),
                                    params=params)
        items: builtins.list[dict[str, Any]] = result["items"]
        return items

    async def patch(self, group_version: str, plural: str, namespace: str | None, name: str,
                    body: Mapping[str, Any] | builtins.list[Any], *,
                    subresource: str | None = None) -> dict[str, Any]:
        """A merge patch (a mapping) or a JSON patch (a list of operations)."""
        content_type = ("application/json-patch+json" if isinstance(body, list)
                        else "application/merge-patch+json")
        result: dict[str, Any] = await self.request(
            "PATCH", api_path(group_version, plural, namespace, name, subresource),
            body=body, content_type=content_type)
        return result

    async def replace(self, obj: Mapping[str, Any], *,
                      subresource: str | None = None) -> dict[str, Any]:
        """PUT a whole object (its metadata.resourceVersion, if any, is a precondition)."""
        kind = self.emulator.find_kind(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        result: dict[str, Any] = await self.request(
            "PUT", api_path(kind.api_version, kind.plural, meta.get("namespace"), meta["name"],
                            subresource), body=obj)
        return result

    async def delete(self, group_version: str, plural: str, namespace: str | None, name: str,
                     *, propagation_policy: str | None = "Background") -> dict[str, Any]:
        """Delete an object; like kubectl, dependents go in the background unless told otherwise.

        ``propagation_policy=None`` leaves the server's default (batch/v1 Jobs: Orphan).
        """
        body = {"propagationPolicy": propagation_policy} if propagation_policy else None
        result: dict[str, Any] = await self.request(
            "DELETE", api_path(group_version, plural, namespace, name), body=body)
        return result

    async def watch(self, group_version: str, plural: str, namespace: str | None = None, *,
                    label_selector: str | None = None, resource_version: str | None = None,
                    timeout: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """Stream watch events (``{"type": ..., "object": ...}``) until the server ends it."""
        if self._session is None:
            raise RuntimeError("the cluster is not running")
        params = {"watch": "true"}
        if label_selector:
            params["labelSelector"] = label_selector
        if resource_version:
            params["resourceVersion"] = resource_version
        if timeout is not None:
            params["timeoutSeconds"] = str(timeout)
        # No total timeout: a watch is meant to outlive aiohttp's default 300 s.
        async with self._session.get(api_path(group_version, plural, namespace), params=params,
                                     timeout=aiohttp.ClientTimeout(total=None)) as response:
            if response.status >= 400:
                raise ApiError(response.status, await response.json())
            async for line in response.content:
                if line.strip():
                    yield json.loads(line)

    @overload
    async def wait_for(self, predicate: Callable[[], Awaitable[T | None]],
                       timeout: float = 5.0, *, what: str | None = None) -> T: ...

    @overload
    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0, *,
                       what: str | None = None) -> T: ...

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0,
                       *, what: str | None = None) -> Any:
        """Wait until ``predicate()`` (sync or async) returns something truthy, and return it.

        It is re-evaluated after every write to the emulator and at least every 0.1 s (for
        conditions that depend on something else), so waiting costs no fixed sleeps.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self.emulator.changed()
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"not met within {timeout} s: {what or predicate!r}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.1))

    async def create_namespace(self, name: str) -> dict[str, Any]:
        return await self.create({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": name}})

    async def create_peering(self, namespace: str | None = None,
                             name: str = "default") -> dict[str, Any]:
        """kopf's peering object: cluster-wide (namespace None) or in a namespace."""
        kind = "KopfPeering" if namespace else "ClusterKopfPeering"
        return await self.create({"apiVersion": "kopf.dev/v1", "kind": kind,
                                  "metadata": {"name": name, "namespace": namespace}})


@contextlib.asynccontextmanager
async def start_cluster(*, faults: Faults | None = None, namespaces: tuple[str, ...] = ("default",),
                        crd_paths: tuple[Path, ...] | None = None,
                        peerings: bool = True) -> AsyncIterator[Cluster]:
    """Run an emulator on 127.0.0.1 (random port) for the duration of the block.

    ``peerings=False``: a cluster without kopf's peering CRDs.

    Errors inside the emulator itself (its bugs, not API errors) fail the block at exit.
    """
    options: dict[str, Any] = {"faults": faults or Faults(), "peerings": peerings}
    if crd_paths is not None:
        options["crd_paths"] = crd_paths
    emulator = Emulator(**options)
    async with emulator:
        async with kmock.Server(emulator, host="127.0.0.1") as server, \
                Cluster(emulator, server) as cluster:
            try:
                for namespace in namespaces:
                    await cluster.create_namespace(namespace)
                yield cluster
            finally:
                emulator.close()
        failures = list(emulator.errors)
    if failures:
        raise ExceptionGroup("the API emulator failed internally", failures)
