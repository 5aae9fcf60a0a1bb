"""The few Kubernetes calls the operator makes, as plain dicts, off the event loop.

The `kubernetes` client is blocking, so every call runs in a small thread pool; the kopf
event loop never waits on a socket. Creates are idempotent: 409 AlreadyExists returns the
existing object (adopt it), which is what makes a create after a crash safe.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from carbs_operator.models import GROUP, VERSION


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str


STUDIES = Resource(GROUP, VERSION, "carbsstudies")
TRIALS = Resource(GROUP, VERSION, "carbstrials")
JOBS = Resource("batch", "v1", "jobs")
T = TypeVar("T")


#: Seconds any one API call may take, ours and kopf's alike (handlers.py sets kopf's). The
#: client waits forever by default: an API server that stops answering mid-request would
#: hold a pool thread for good (four such calls stall every study) and keep the process
#: from exiting on SIGTERM, since Python's exit waits for the pool's threads.
REQUEST_TIMEOUT_SECONDS = 60.0
#: How long discovery's answer (is this CRD served?) is kept: a CRD installed after a study
#: named its kind is seen within this long.
SERVED_SECONDS = 30.0


class ObjectApi(Protocol):
    """The Kubernetes calls a study's reconciler makes: `KubeApi`, or a `StudyApi` over it."""

    async def list_objects(self, resource: Resource, namespace: str,
                           label_selector: str) -> list[dict[str, Any]]: ...

    async def get(self, resource: Resource, namespace: str,
                  name: str) -> dict[str, Any] | None: ...

    async def create(self, resource: Resource, namespace: str,
                     body: dict[str, Any]) -> tuple[dict[str, Any], bool]: ...

    async def patch_status(self, resource: Resource, namespace: str, name: str,
                           status: dict[str, Any]) -> dict[str, Any] | None: ...

    async def delete(self, resource: Resource, namespace: str, name: str) -> None: ...

    async def served(self, resource: Resource) -> bool: ...

    async def pod_log(self, namespace: str, pod: str, container: str, limit_bytes: int, *,
                      tail_lines: int | None = None, since_seconds: int | None = None,
                      timestamps: bool = False) -> tuple[str | None, str | None]: ...

    async def pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]: ...

    async def fresh_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The pods as the server holds them now, never from a cache."""
        ...


class KubeApi:
    """Namespaced reads and writes of studies, trials, Jobs and Pods."""

    def __init__(self, api_client: k8s.ApiClient, threads: int = 4,
                 request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self._custom = k8s.CustomObjectsApi(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="carbs-k8s")
        self._timeout = request_timeout
        self._served: dict[Resource, tuple[float, bool]] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """`fn` in the pool, bounded by the request timeout (a timeout raises urllib3's
        ReadTimeoutError or ConnectTimeoutError, which kopf retries as any handler error)."""
        return await self._in_pool(lambda: fn(*args, _request_timeout=self._timeout, **kwargs))

    async def _body(self, fn: Any, *args: Any, **kwargs: Any) -> bytes:
        """The raw body of `fn`'s response, read in the pool too: unparsed, the response
        is read lazily, and a read on the event loop would hold every study while it
        arrives."""
        return await self._in_pool(lambda: bytes(fn(
            *args, _preload_content=False, _request_timeout=self._timeout, **kwargs).data))

    async def _in_pool(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    async def list_objects(
        self, resource: Resource, namespace: str, label_selector: str
    ) -> list[dict[str, Any]]:
        found = await self._run(
            self._custom.list_namespaced_custom_object, resource.group, resource.version,
            namespace, resource.plural, label_selector=label_selector,
        )
        return list(found.get("items") or [])

    async def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            obj: dict[str, Any] = await self._run(
                self._custom.get_namespaced_custom_object, resource.group, resource.version,
                namespace, resource.plural, name,
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return obj

    async def create(
        self, resource: Resource, namespace: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        """(the object, True) when created; (the existing one, False) on AlreadyExists."""
        try:
            obj: dict[str, Any] = await self._run(
                self._custom.create_namespaced_custom_object, resource.group, resource.version,
                namespace, resource.plural, body,
            )
        except ApiException as error:
            if error.status != 409:
                raise
            existing = await self.get(resource, namespace, body["metadata"]["name"])
            if existing is None:  # deleted in between: let the next reconcile try again
                raise
            return existing, False
        return obj, True

    async def patch_status(
        self, resource: Resource, namespace: str, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The object as patched; None when it is gone (nothing left to describe)."""
        try:
            obj: dict[str, Any] = await self._run(
                self._custom.patch_namespaced_custom_object_status, resource.group,
                resource.version, namespace, resource.plural, name, {"status": status},
            )
        except ApiException as error:
            if error.status != 404:
                raise
            return None
        return obj

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        try:
            await self._run(
                self._custom.delete_namespaced_custom_object, resource.group, resource.version,
                namespace, resource.plural, name, propagation_policy="Background",
            )
        except ApiException as error:
            if error.status != 404:
                raise

    async def served(self, resource: Resource) -> bool:
        """Whether the API server serves `resource` (its CRD is installed), by discovery;
        an answer is kept for SERVED_SECONDS (every pass of a JobSet study asks)."""
        now = time.monotonic()
        known = self._served.get(resource)
        if known is not None and now - known[0] < SERVED_SECONDS:
            return known[1]
        answer = await self._discover(resource)
        self._served[resource] = (now, answer)
        return answer

    async def _discover(self, resource: Resource) -> bool:
        try:
            body = await self._body(
                self._custom.get_api_resources, resource.group, resource.version)
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        resources = json.loads(body).get("resources") or []
        return any(entry.get("name") == resource.plural for entry in resources)

    async def pod_log(
        self, namespace: str, pod: str, container: str, limit_bytes: int, *,
        tail_lines: int | None = None, since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> tuple[str | None, str | None]:
        """(the container's log, None), or (None, why it cannot be read) when the pod or
        its log is gone, or the operator may not read logs (403). At most `limit_bytes`;
        with `since_seconds`, only the lines written that recently; with `tail_lines`, only
        the last lines of those (the kubelet selects the lines first, then cuts them at
        `limit_bytes`); with `timestamps`, each line starts with the RFC
        3339 time it was written and a space."""
        options: dict[str, Any] = {"timestamps": True} if timestamps else {}
        if since_seconds is not None:
            options["since_seconds"] = since_seconds
        if tail_lines is not None:
            options["tail_lines"] = tail_lines
        try:
            data = await self._body(
                self._core.read_namespaced_pod_log, pod, namespace, container=container,
                limit_bytes=limit_bytes, **options,
            )
        except ApiException as error:
            if error.status == 403:
                return None, (f"cannot read the log of pod {pod}: forbidden (the operator needs "
                              "get on pods/log: enable StdOut in the chart's metricsCollectors)")
            if error.status in (400, 404):
                return None, f"no output: the log of pod {pod} ({container}) is gone"
            raise
        return data.decode("utf-8", errors="replace"), None

    async def pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        body = await self._body(
            self._core.list_namespaced_pod, namespace, label_selector=label_selector)
        return list(json.loads(body).get("items") or [])

    async def fresh_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        return await self.pods(namespace, label_selector)
