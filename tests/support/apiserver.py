"""An in-memory Kubernetes API server for integration tests: kmock's emulator, made to carry kopf.

No real API server can run on these machines, so the real kopf operator and the real
``kubernetes`` client talk to kmock's ``KubernetesEmulator`` on 127.0.0.1. kmock 0.8 as
released does not carry kopf (measured): objects lack uid/resourceVersion/generation/
creationTimestamp (kopf's finalizer JSON patch fails its ``test`` op), ``/api/v1/namespaces``
answers 500, selectors are ignored, watches ignore ``timeoutSeconds``, ``generateName`` stores
the name None, PUT and deletecollection and trailing slashes are 404, ``/status`` is not a
subresource, and there is neither garbage collection nor a proper 409 on duplicate creates.

``Emulator`` keeps kmock's HTTP server, request log, reaction DSL (``emulator['get /…'] << 500``
still overrides anything), resource registry (``emulator.resources``, loaded with kmock's bundled
built-ins plus the carbs CRDs and kopf's peerings) and object store (``emulator.objects``, each
write appending a version to the object's history), and replaces the API semantics:

- metadata: uid and creationTimestamp at creation, one global resourceVersion counter bumped on
  every write, generation bumped only when anything but metadata/status changes (and on the
  first graceful deletion, as the real server does). A no-op write changes nothing and emits
  no event, so operators do not loop on their own echoes.
- create (409 AlreadyExists, generateName), get, list, watch, PUT, merge / strategic-merge /
  JSON patch, delete, deletecollection, for every registered resource; namespace from the URL.
- ``/status`` as a real subresource where the resource declares it; status is dropped on create.
- resourceVersion preconditions: 409 Conflict on PUT and merge patches carrying a stale one;
  a failed JSON-patch ``test`` op is 422, as on a real server and as kopf expects
  (``kopf._cogs.clients.patching`` catches ``APIUnprocessableEntityError`` there).
- watches: ADDED/MODIFIED/DELETED from a bounded event log (410 Gone when resumed from too
  old a version), label/field selectors with ADDED/DELETED on entering/leaving the selection,
  ``timeoutSeconds``, ``sendInitialEvents`` with the initial-events-end bookmark.
- finalizers and deletionTimestamp; garbage collection by ownerReferences (background, recursive,
  an object goes when its last owner goes; Orphan strips the references). Like a real
  ``batch/v1`` server, a Job deleted without a propagation policy orphans its Pods.
- custom resources are admitted as the API server admits them (see ``admission``): unknown
  fields refused under ``fieldValidation=Strict`` (kubectl's default), else pruned with a
  ``Warning`` under ``Warn`` (the default); pruned and defaulted from the CRD schema (see
  ``structural``); the OpenAPI schema and the CEL rules, transition rules (``oldSelf``) on
  updates included, checked on create, update, patch and the ``/status`` subresource (422
  Invalid with the server's causes).
- ``dryRun=All``: the write is checked and answered, never stored.
- what kubectl reads: ``/openapi/v2`` and ``/openapi/v3`` (see ``openapi``), ``Table`` lists
  with a CRD's ``additionalPrinterColumns`` (see ``tables``), core discovery (``/api``,
  ``/api/v1``) with ``groupVersion: v1``.
- optional fault injection (``Faults``), off by default.

Not emulated: authentication/RBAC, admission webhooks, validation of built-in kinds,
server-side apply, strategic-merge list semantics, list pagination, Foreground deletion (it is
treated as Background), namespace existence checks and the namespace lifecycle finalizer.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import copy
import datetime
import importlib.metadata
import json
import logging
import random
import re
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp.web
import attrs
import kmock
import yaml

from tests.support import admission, openapi, selectors, structural, tables
from tests.support.podlogs import PodLogs

KMOCK_VERSION = "0.8"
"""The kmock release these semantics were written and measured against (asserted at import)."""

if importlib.metadata.version("kmock") != KMOCK_VERSION:  # pragma: no cover - on upgrades
    raise ImportError(
        f"tests/support was written against kmock {KMOCK_VERSION}, found "
        f"{importlib.metadata.version('kmock')}: "
        "re-measure what the emulator still lacks (see the module docstring), then update"
    )

CRD_DIR = Path(__file__).resolve().parents[2] / "crds"
"""The carbs CRDs (carbsstudies, carbstrials); the emulator serves the resources they define."""

KOPF_PEERINGS = {
    "kopf.dev/v1/clusterkopfpeerings": ("ClusterKopfPeering", False),
    "kopf.dev/v1/kopfpeerings": ("KopfPeering", True),
}
"""kopf's peering resources (kopf's peering.yaml: no status subresource, status preserved)."""

JOB_DELETION_WARNING = (
    '299 - "child pods are preserved by default when jobs are deleted; set '
    'propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress '
    'this warning"'
)
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's, no vowels
_NOT_SPEC = ("apiVersion", "kind", "metadata", "status")
_IMMUTABLE_METADATA = ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                       "deletionGracePeriodSeconds", "generation")
_PODS = kmock.resource(group="", version="v1", plural="pods")
_NAMESPACES = kmock.resource(group="", version="v1", plural="namespaces")
_JOBS = kmock.resource(group="batch", version="v1", plural="jobs")
_CRDS = kmock.resource(group="apiextensions.k8s.io", version="v1",
                       plural="customresourcedefinitions")
logger = logging.getLogger(__name__)


def utcnow() -> str:
    """A timestamp in the API server's format (RFC 3339, seconds, UTC)."""
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error answer, rendered as a ``kind: Status`` body like the API server's."""

    def __init__(self, code: int, reason: str, message: str,
                 details: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})

    def response(self) -> aiohttp.web.Response:
        return aiohttp.web.json_response(status_body(self.code, self.reason, self.message,
                                                     self.details),
                                         status=self.code, headers=self.headers)


def status_body(code: int, reason: str, message: str,
                details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Status", "metadata": {},
            "status": "Success" if code < 400 else "Failure",
            "code": code, "reason": reason, "message": message, "details": dict(details or {})}


@dataclass
class Faults:
    """Fault injection for resilience tests; everything is off by default.

    ``error_rate`` is the probability that a request is answered with one of ``error_codes``
    instead of being served (nothing is written then); ``latency`` delays every affected answer
    by up to that many seconds; ``watch_drop_rate`` is the probability that a watch stream is
    cut after each event it sends. Only requests whose method is in ``methods`` and whose path
    matches ``path_pattern`` (a regex, searched) are affected; requests from the test helpers
    (header ``X-Emulator-Exempt``) never are. Deterministic faults are better written with
    kmock's DSL: ``cluster.emulator['patch /apis/batch/v1/…'][:1] << 409``; and
    ``Emulator.drop_watches()`` cuts every open watch stream now.
    """

    error_rate: float = 0.0
    error_codes: tuple[int, ...] = (409, 429, 500, 503)
    latency: float = 0.0
    watch_drop_rate: float = 0.0
    methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
    path_pattern: str | None = None
    seed: int | None = None
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - test faults, not cryptography

    def affects(self, method: str, path: str) -> bool:
        return method in self.methods and (
            self.path_pattern is None or re.search(self.path_pattern, path) is not None)

    async def before(self, method: str, path: str) -> None:
        """Delay and/or raise an injected error for a request, as configured."""
        if not self.affects(method, path):
            return
        if self.latency > 0:
            await asyncio.sleep(self.rng.uniform(0, self.latency))
        if self.error_rate > 0 and self.rng.random() < self.error_rate:
            code = self.rng.choice(self.error_codes)
            reasons = {409: "Conflict", 429: "TooManyRequests", 500: "InternalError",
                       503: "ServiceUnavailable"}
            headers = {"Retry-After": "1"} if code in (429, 503) else {}
            raise ApiError(code, reasons.get(code, "InternalError"), "injected fault",
                           headers=headers)

    def drop_watch(self) -> bool:
        return self.watch_drop_rate > 0 and self.rng.random() < self.watch_drop_rate


@dataclass
class WriteOptions:
    """The query parameters of one write that change how it is admitted and stored."""

    field_validation: str = "Warn"  # Strict | Warn | Ignore
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> WriteOptions:
        return cls(field_validation=query.get("fieldValidation") or "Warn",
                   dry_run=query.get("dryRun") == "All")


@dataclass(frozen=True)
class Kind:
    """What the emulator needs to know about one served resource."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    has_status: bool
    custom: bool
    schema: Mapping[str, Any] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def resource(self) -> kmock.resource:
        return kmock.resource(group=self.group, version=self.version, plural=self.plural)

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


class _Route(NamedTuple):
    group: str | None  # None: not under /api or /apis
    version: str | None
    plural: str | None
    namespace: str | None
    name: str | None
    subresource: str | None


class _Event(NamedTuple):
    rv: int
    resource: kmock.resource
    type: str  # ADDED, MODIFIED, DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(eq=False)
class _Watcher:
    resource: kmock.resource
    selects: Callable[[Mapping[str, Any]], bool]
    queue: asyncio.Queue[_Event | None] = field(default_factory=asyncio.Queue)


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator):
    """kmock's Kubernetes emulator with the API semantics kopf and the operator rely on."""

    crd_paths: tuple[Path, ...] = attrs.field(
        factory=lambda: tuple(sorted(CRD_DIR.glob("*.yaml"))), converter=tuple)
    faults: Faults = attrs.field(factory=Faults)
    event_log_size: int = 10_000
    reject_strategic_merge_on_custom: bool = True
    peerings: bool = True  # False: a cluster without kopf's peering CRDs
    pod_logs: PodLogs = attrs.field(factory=PodLogs)  # written by the simulated kubelet

    _rv: int = attrs.field(default=0, init=False)
    _log: collections.deque[_Event] = attrs.field(init=False)
    _log_floor: int = attrs.field(default=0, init=False)
    _watchers: set[_Watcher] = attrs.field(factory=set, init=False)
    _closing: bool = attrs.field(default=False, init=False)
    _changed: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _schemas: dict[kmock.resource, Mapping[str, Any]] = attrs.field(factory=dict, init=False)
    _custom: set[kmock.resource] = attrs.field(factory=set, init=False)
    _pending_policy: dict[str, str] = attrs.field(factory=dict, init=False)
    _rng: random.Random = attrs.field(factory=random.Random, init=False)
    _write: WriteOptions = attrs.field(factory=WriteOptions, init=False)
    _columns: dict[kmock.resource, list[dict[str, Any]]] = attrs.field(factory=dict, init=False)
    # The uids of the objects that exist, kept by _commit: an owner reference is checked in
    # O(1), not by a scan of every object (which made each create O(objects): 90 ms with a
    # study of 10,000 trials stored).
    _live_uids: set[str] = attrs.field(factory=set, init=False)

    def __attrs_post_init__(self) -> None:
        # Deliberately not calling kmock's post-init: its fallback reactions implement the
        # semantics this class replaces. User reactions (``emulator[...] << ...``) still win.
        self._log = collections.deque(maxlen=self.event_log_size)
        with warnings.catch_warnings():  # kmock 0.8 uses importlib.resources.read_binary
            warnings.simplefilter("ignore", DeprecationWarning)
            self.resources.load_bundled()
        crds = self.kind_of("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for path in self.crd_paths:
            for document in yaml.safe_load_all(path.read_text()):
                if document and document.get("kind") == "CustomResourceDefinition" and crds:
                    self.create_object(crds, None, document)  # registers it, see create()
        for key, (kind, namespaced) in KOPF_PEERINGS.items() if self.peerings else ():
            self.resources[key] = kmock.ResourceInfo(
                kind=kind, singular=kind.lower(), namespaced=namespaced, verbs=ALL_VERBS)
            self._custom.add(kmock.resource(key))

    # ----------------------------------------------------------------------------- registry

    def register_crd(self, crd: Mapping[str, Any]) -> None:
        """Serve the resources a CustomResourceDefinition defines (every served version)."""
        spec = crd["spec"]
        names = spec["names"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            resource = kmock.resource(group=spec["group"], version=version["name"],
                                      plural=names["plural"])
            self.resources[resource] = kmock.ResourceInfo(
                kind=names["kind"], singular=names.get("singular", names["kind"].lower()),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                shortnames=names.get("shortNames", []), categories=names.get("categories", []),
                verbs=ALL_VERBS, subresources=set(version.get("subresources") or {}))
            self._custom.add(resource)
            schema = (version.get("schema") or {}).get("openAPIV3Schema")
            if schema:
                self._schemas[resource] = schema
            self._columns[resource] = list(version.get("additionalPrinterColumns") or [])

    def kind_of(self, group: str, version: str, plural: str) -> Kind | None:
        resource = kmock.resource(group=group, version=version, plural=plural)
        if resource not in self.resources:
            return None
        info = self.resources[resource]
        return Kind(group=group, version=version, plural=plural,
                    kind=info.kind or plural.capitalize(), namespaced=bool(info.namespaced),
                    has_status="status" in info.subresources, custom=resource in self._custom,
                    schema=self._schemas.get(resource))

    def find_kind(self, api_version: str, kind: str) -> Kind:
        """The served resource for an object's apiVersion and kind."""
        group, _, version = api_version.rpartition("/")
        for resource in self.resources:
            if (resource.group, resource.version) == (group, version) and resource.plural:
                found = self.kind_of(group, version, resource.plural)
                if found is not None and found.kind == kind:
                    return found
        raise LookupError(f"no served resource for {api_version} {kind}")

    # ------------------------------------------------------------------------ store access

    @property
    def resource_version(self) -> int:
        """The last resourceVersion handed out (a global counter, as etcd's revision)."""
        return self._rv

    def changed(self) -> asyncio.Event:
        """An event set at the next write; for waiting on "something changed" without polling."""
        return self._changed

    def live_objects(self, resource: kmock.resource | None = None,
                     namespace: str | None = None) -> Iterator[dict[str, Any]]:
        """The current (not deleted) objects, optionally of one resource and namespace."""
        for (res, ns, _), obj in list(self._objects.items()):
            if obj.deleted or (resource is not None and res != resource):
                continue
            if namespace is None or ns == namespace:
                yield obj.raw

    def _stored(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any] | None:
        key = (kind.resource, namespace if kind.namespaced else None, name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return self._objects[key].raw

    def _require(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._stored(kind, namespace, name)
        if obj is None:
            raise ApiError(404, "NotFound", f'{kind.group_resource} "{name}" not found',
                           {"name": name, "group": kind.group, "kind": kind.plural})
        return obj

    def _commit(self, kind: Kind, event_type: str, obj: dict[str, Any],
                old: dict[str, Any] | None) -> dict[str, Any]:
        """Store a new version (or the deletion) with a fresh resourceVersion and notify."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        meta = obj["metadata"]
        key = (kind.resource, meta.get("namespace") if kind.namespaced else None, meta["name"])
        uid = meta.get("uid")
        if event_type == "DELETED":
            self._objects[key].delete()
            self._live_uids.discard(uid)
        elif key not in self._objects:
            self._objects[key] = obj
        elif self._objects[key].deleted:
            self._objects[key].create(obj)
        else:
            self._objects[key].history.append(obj)
        if event_type != "DELETED" and isinstance(uid, str):
            self._live_uids.add(uid)
        if len(self._log) == self._log.maxlen:
            self._log_floor = self._log[0].rv
        event = _Event(self._rv, kind.resource, event_type, obj, old)
        self._log.append(event)
        for watcher in list(self._watchers):
            if watcher.resource == kind.resource:
                watcher.queue.put_nowait(event)
        self._changed.set()
        self._changed = asyncio.Event()
        return obj

    # ------------------------------------------------------------------------- operations

    def create_object(self, kind: Kind, namespace: str | None, body: Any) -> dict[str, Any]:
        """POST: a new object, with the server-owned metadata filled in."""
        if not isinstance(body, Mapping):
            raise ApiError(400, "BadRequest", "the body of a create must be an object")
        obj = copy.deepcopy(dict(body))
        meta = dict(obj.get("metadata") or {})
        if kind.namespaced:
            if namespace and meta.get("namespace") and meta["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            namespace = namespace or meta.get("namespace")
            if not namespace:
                raise ApiError(400, "BadRequest", "a namespaced object needs a namespace")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise ApiError(422, "Invalid", "metadata.name: Required value: name or "
                               "generateName is required")
            while True:
                suffix = "".join(self._rng.choice(_GENERATE_ALPHABET) for _ in range(5))
                meta["name"] = meta["generateName"] + suffix
                if self._stored(kind, namespace, meta["name"]) is None:
                    break
        elif self._stored(kind, namespace, meta["name"]) is not None:
            raise ApiError(409, "AlreadyExists",
                           f'{kind.group_resource} "{meta["name"]}" already exists',
                           {"name": meta["name"], "group": kind.group, "kind": kind.plural})
        for server_owned in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                             "selfLink", "managedFields"):
            meta.pop(server_owned, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=utcnow(), generation=1)
        obj.update(apiVersion=kind.api_version, kind=kind.kind, metadata=meta)
        if kind.has_status:
            obj.pop("status", None)
        if kind.resource == _PODS:
            obj["status"] = {"phase": "Pending"}
        elif kind.resource == _NAMESPACES:
            obj["status"] = {"phase": "Active"}
        obj = self._admitted(kind, obj, None)
        if self._write.dry_run:
            return obj  # checked and answered, never stored
        if kind.resource == _CRDS:
            self.register_crd(obj)  # served from now on (an apiextensions server's job)
        created = self._commit(kind, "ADDED", obj, None)
        refs = meta.get("ownerReferences") or []
        if refs and not any(ref.get("uid") in self._live_uids for ref in refs):
            # The garbage collector also removes a dependent created after all its owners
            # were gone (a dangling ownerReference), a little later on a real cluster.
            self._delete_or_mark(kind, created, "Background")
        return created

    def replace_object(self, kind: Kind, namespace: str | None, name: str, subresource: str | None,
                body: Any) -> dict[str, Any]:
        """PUT: the whole object (or only its status through ``/status``)."""
        old = self._require(kind, namespace, name)
        if not isinstance(body, Mapping):
            raise ApiError(400, "BadRequest", "the body of an update must be an object")
        meta = body.get("metadata") or {}
        if meta.get("name", name) != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the URL")
        self._check_version(kind, old, meta.get("resourceVersion"))
        return self._update(kind, old, copy.deepcopy(dict(body)), subresource)

    def patch_object(self, kind: Kind, namespace: str | None, name: str, subresource: str | None,
              body: Any, content_type: str) -> dict[str, Any]:
        """PATCH: JSON patch (RFC 6902), merge patch (RFC 7386), strategic merge as merge."""
        old = self._require(kind, namespace, name)
        if content_type == "application/json-patch+json":
            if not isinstance(body, list):
                raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
            try:
                new = structural.json_patch(old, body)
            except structural.PatchError as exc:
                raise ApiError(422, "Invalid", f"the JSON patch could not be applied: {exc}",
                               {"name": name, "group": kind.group, "kind": kind.plural}) from exc
        elif content_type in ("application/merge-patch+json",
                              "application/strategic-merge-patch+json"):
            if content_type.startswith("application/strategic") and kind.custom and \
                    self.reject_strategic_merge_on_custom:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json")
            if not isinstance(body, Mapping):
                raise ApiError(400, "BadRequest", "a merge patch must be an object")
            self._check_version(kind, old, (body.get("metadata") or {}).get("resourceVersion"))
            new = structural.merge_patch(old, body)
        else:
            raise ApiError(415, "UnsupportedMediaType",
                           f"unsupported patch type {content_type!r} (no server-side apply here)")
        return self._update(kind, old, new, subresource)

    def delete_object(self, kind: Kind, namespace: str | None, name: str,
               options: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
        """DELETE: remove now, or mark with deletionTimestamp while finalizers remain.

        Returns the object and whether it is gone (``False``: waiting for finalizers).
        """
        obj = self._require(kind, namespace, name)
        preconditions = options.get("preconditions") or {}
        meta = obj["metadata"]
        for field_name in ("uid", "resourceVersion"):
            expected = preconditions.get(field_name)
            if expected is not None and expected != meta.get(field_name):
                raise ApiError(409, "Conflict", f"Precondition failed: {field_name} in "
                               f"precondition: {expected}, {field_name} in object meta: "
                               f"{meta.get(field_name)}")
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy is None:
            batch_job = kind.resource == _JOBS
            policy = "Orphan" if batch_job else "Background"
        if self._write.dry_run:
            return obj, True
        return self._delete_or_mark(kind, obj, policy)

    def delete_collection(self, kind: Kind, namespace: str | None,
                          label_selector: str | None, field_selector: str | None,
                          options: Mapping[str, Any]) -> None:
        """DELETE on a collection: every selected object, as if deleted one by one."""
        selects = self._selector(kind, namespace, None, label_selector, field_selector)
        for obj in [obj for obj in self.live_objects(kind.resource) if selects(obj)]:
            with contextlib.suppress(ApiError):
                self.delete_object(kind, obj["metadata"].get("namespace"), obj["metadata"]["name"],
                            options)

    def list_objects(self, kind: Kind, namespace: str | None, label_selector: str | None,
             field_selector: str | None) -> dict[str, Any]:
        selects = self._selector(kind, namespace, None, label_selector, field_selector)
        items = sorted((obj for obj in self.live_objects(kind.resource) if selects(obj)),
                       key=lambda obj: (obj["metadata"].get("namespace") or "",
                                        obj["metadata"]["name"]))
        return {"apiVersion": kind.api_version, "kind": f"{kind.kind}List",
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    def _table(self, kind: Kind, items: list[dict[str, Any]],
               query: Mapping[str, str]) -> dict[str, Any]:
        return tables.table(items, self._columns.get(kind.resource), str(self._rv),
                            query.get("includeObject") or "Metadata")

    # ------------------------------------------------------------------------ semantics

    def _check_version(self, kind: Kind, old: Mapping[str, Any], version: str | None) -> None:
        if version is not None and version != old["metadata"].get("resourceVersion"):
            name = old["metadata"]["name"]
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on '
                           f'{kind.group_resource} "{name}": the object has been modified; '
                           "please apply your changes to the latest version and try again",
                           {"name": name, "group": kind.group, "kind": kind.plural})

    def _admitted(self, kind: Kind, obj: dict[str, Any],
                  old: dict[str, Any] | None) -> dict[str, Any]:
        """A custom resource as the API server would store it, or the error it would answer."""
        if not kind.schema:
            return obj
        name = obj["metadata"].get("name", "")
        unknown = admission.unknown_fields(obj, kind.schema)
        if unknown and self._write.field_validation == "Strict":
            listed = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise ApiError(400, "BadRequest", f'{kind.kind} in version "{kind.version}" cannot '
                           f"be handled as a {kind.kind}: strict decoding error: {listed}")
        if unknown and self._write.field_validation == "Warn":
            self._write.warnings += [f'unknown field "{path}"' for path in unknown]
        admitted = admission.admit(obj, kind.schema)
        causes = admission.validation_causes(admitted, old, kind.schema)
        if causes:
            raise ApiError(422, "Invalid",
                           admission.invalid_message(kind.kind, kind.group, name, causes),
                           {"name": name, "group": kind.group, "kind": kind.kind,
                            "causes": [cause.as_dict() for cause in causes]})
        return admitted

    def _update(self, kind: Kind, old: dict[str, Any], new: dict[str, Any],
                subresource: str | None) -> dict[str, Any]:
        """The shared tail of PUT and PATCH: subresource split, immutables, generation, GC."""
        if subresource == "status":
            result = copy.deepcopy(old)
            result.pop("status", None)
            if new.get("status") is not None:
                result["status"] = new["status"]
        else:
            result = new
            new_status = result.pop("status", None)
            if kind.has_status:
                if "status" in old:
                    result["status"] = copy.deepcopy(old["status"])
            elif new_status is not None:
                result["status"] = new_status
            meta = dict(result.get("metadata") or {})
            for key in _IMMUTABLE_METADATA:
                meta.pop(key, None)
                if key in old["metadata"]:
                    meta[key] = old["metadata"][key]
            result.update(apiVersion=old["apiVersion"], kind=old["kind"], metadata=meta)
            added = set(meta.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
            if old["metadata"].get("deletionTimestamp") and added:
                raise ApiError(422, "Invalid", "metadata.finalizers: Forbidden: no new "
                               "finalizers can be added if the object is being deleted")
        result = self._admitted(kind, result, old)
        if _spec_of(result) != _spec_of(old):
            result["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1
        result["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        if result == old:
            return old  # a no-op write: no new resourceVersion, no event
        if self._write.dry_run:
            return result
        result = self._commit(kind, "MODIFIED", result, old)
        meta = result["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            policy = self._pending_policy.pop(meta["uid"], "Background")
            self._remove(kind, result, policy)
        return result

    def _delete_or_mark(self, kind: Kind, obj: dict[str, Any],
                       policy: str) -> tuple[dict[str, Any], bool]:
        meta = obj["metadata"]
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return obj, False
            marked = copy.deepcopy(obj)
            marked["metadata"].update(deletionTimestamp=utcnow(), deletionGracePeriodSeconds=0,
                                      generation=meta.get("generation", 0) + 1)
            self._pending_policy[meta["uid"]] = policy
            return self._commit(kind, "MODIFIED", marked, obj), False
        return self._remove(kind, obj, policy), True

    def _remove(self, kind: Kind, obj: dict[str, Any], policy: str) -> dict[str, Any]:
        """Remove an object for good, then collect its dependents (and a namespace's content)."""
        gone = self._commit(kind, "DELETED", copy.deepcopy(obj), obj)
        uid = gone["metadata"]["uid"]
        if kind.resource == _NAMESPACES:
            for (resource, ns, _), stored in list(self._objects.items()):
                dependent_kind = self.kind_of(resource.group or "", resource.version or "",
                                              resource.plural or "")
                if ns == gone["metadata"]["name"] and not stored.deleted and dependent_kind:
                    with contextlib.suppress(ApiError):
                        self._delete_or_mark(dependent_kind, stored.raw, "Background")
        self._collect_dependents(uid, policy)
        return gone

    def _collect_dependents(self, owner_uid: str, policy: str) -> None:
        """The garbage collector: dependents whose owners are all gone go too (recursively)."""
        live_uids = {obj["metadata"]["uid"] for obj in self.live_objects()}
        for (resource, _, _), stored in list(self._objects.items()):
            if stored.deleted:
                continue
            obj = stored.raw
            refs = obj["metadata"].get("ownerReferences") or []
            if not any(ref.get("uid") == owner_uid for ref in refs):
                continue
            kind = self.kind_of(resource.group or "", resource.version or "",
                                resource.plural or "")
            if kind is None:
                continue
            remaining = [ref for ref in refs if ref.get("uid") != owner_uid]
            if policy != "Orphan" and not any(ref.get("uid") in live_uids for ref in remaining):
                self._delete_or_mark(kind, obj, "Background")
            else:
                stripped = copy.deepcopy(obj)
                if remaining:
                    stripped["metadata"]["ownerReferences"] = remaining
                else:
                    stripped["metadata"].pop("ownerReferences", None)
                self._commit(kind, "MODIFIED", stripped, obj)

    def _selector(self, kind: Kind, namespace: str | None, name: str | None,
                  label_selector: str | None,
                  field_selector: str | None) -> Callable[[Mapping[str, Any]], bool]:
        try:
            labels = selectors.parse_label_selector(label_selector)
            fields = selectors.parse_field_selector(field_selector)
        except ValueError as exc:
            raise ApiError(400, "BadRequest", str(exc)) from exc

        def selects(obj: Mapping[str, Any]) -> bool:
            meta = obj.get("metadata") or {}
            return ((namespace is None or meta.get("namespace") == namespace)
                    and (name is None or meta.get("name") == name)
                    and selectors.matches(obj, labels, fields))

        return selects

    # -------------------------------------------------------------------------- watching

    def drop_watches(self) -> None:
        """Cut every open watch stream now (clients see the stream end and must resume)."""
        for watcher in list(self._watchers):
            watcher.queue.put_nowait(None)

    def close(self) -> None:
        """Refuse new watches and end the open ones: lets the HTTP server stop at once."""
        self._closing = True
        self.drop_watches()

    async def _watch(self, raw: aiohttp.web.BaseRequest, kind: Kind, namespace: str | None,
                     name: str | None) -> aiohttp.web.StreamResponse:
        query = raw.query
        selects = self._selector(kind, namespace, name, query.get("labelSelector"),
                                 query.get("fieldSelector"))
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        since = query.get("resourceVersion")
        initial = query.get("sendInitialEvents") == "true"
        backlog: list[dict[str, Any]]
        if since not in (None, "", "0") and not initial:
            try:
                since_rv = int(since or "")
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {since!r}") from exc
            if since_rv < self._log_floor:
                backlog = [{"type": "ERROR", "object": status_body(
                    410, "Expired", f"too old resource version: {since_rv} ({self._log_floor})")}]
            else:
                backlog = [event for entry in self._log if entry.rv > since_rv
                           and entry.resource == kind.resource
                           for event in _translate(entry, selects)]
        else:
            current = self.list_objects(kind, namespace, None, None)["items"]
            backlog = [{"type": "ADDED", "object": obj} for obj in current if selects(obj)]
            if initial:
                backlog.append({"type": "BOOKMARK", "object": {
                    "apiVersion": kind.api_version, "kind": kind.kind, "metadata": {
                        "resourceVersion": str(self._rv),
                        "annotations": {"k8s.io/initial-events-end": "true"}}}})
        watcher = _Watcher(kind.resource, selects)
        if not self._closing and not (backlog and backlog[-1]["type"] == "ERROR"):
            self._watchers.add(watcher)
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "application/json"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout if timeout is not None else None
        try:
            # Inside the try: a client that cut the stream may be gone before the headers.
            await response.prepare(raw)
            for event in backlog:
                await response.write(json.dumps(event).encode() + b"\n")
            while watcher in self._watchers:
                remaining = 1.0 if deadline is None else min(1.0, deadline - loop.time())
                if remaining <= 0:
                    break
                try:
                    entry = await asyncio.wait_for(watcher.queue.get(), remaining)
                except TimeoutError:
                    if raw.transport is None or raw.transport.is_closing():
                        break
                    continue
                if entry is None:
                    break
                for event in _translate(entry, selects):
                    await response.write(json.dumps(event).encode() + b"\n")
                if self.faults.drop_watch() and "x-emulator-exempt" not in raw.headers:
                    break
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            self._watchers.discard(watcher)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await response.write_eof()
        return response

    # ---------------------------------------------------------------------------- HTTP

    def _parse_route(self, path: str) -> _Route:
        parts = [part for part in path.split("/") if part]
        if not parts or parts[0] not in ("api", "apis"):
            return _Route(None, None, None, None, None, None)
        group = "" if parts[0] == "api" else (parts[1] if len(parts) > 1 else None)
        rest = parts[1:] if parts[0] == "api" else parts[2:]
        if group is None or not rest:
            return _Route(group, None, None, None, None, None)
        version, rest = rest[0], rest[1:]
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and \
                self.kind_of(group, version, rest[2]) is not None:
            namespace, rest = rest[1], rest[2:]
        return _Route(group, version, rest[0] if rest else None, namespace,
                      rest[1] if len(rest) > 1 else None, "/".join(rest[2:]) or None)

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        """Serve one request: kmock's request log and user reactions first, then the API."""
        body = await raw.read()
        path = raw.path.rstrip("/") or "/"
        route = self._parse_route(path)
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        request = kmock.Request(
            id=len(self._requests), method=raw.method,
            url=raw.url.with_path(path).with_query(raw.query),
            params=dict(raw.query), headers=dict(raw.headers), cookies=dict(raw.cookies),
            body=body, text=body.decode(errors="replace"), data=data,
            action=_action(raw.method, route, raw.query), subresource=route.subresource,
            resource=None if route.group is None else kmock.resource(
                group=route.group, version=route.version, plural=route.plural),
            namespace=route.namespace, name=route.name, raw_request=raw)
        self._requests.append(request)
        try:
            if "x-emulator-exempt" not in raw.headers:
                await self.faults.before(raw.method, path)
            if self._payloads:
                with contextlib.suppress(NotImplementedError):  # no user reaction matched
                    return await kmock.RawHandler._handle(self, request)
            return await self._serve(raw, path, route, data)
        except ApiError as exc:
            return exc.response()
        except kmock.KubernetesError as exc:  # from kmock's discovery helpers or reactions
            return ApiError(exc.status, exc.reason or "Error", exc.message or "").response()
        except ConnectionError:  # the client hung up mid-answer: its problem, not our bug
            return ApiError(499, "ClientClosedRequest", "the client went away").response()
        except Exception as exc:
            logger.exception("The API emulator failed on %s %s", raw.method, raw.path_qs)
            if self.active:
                self.errors.append(exc)  # re-raised by the cluster at exit: emulator bugs
            return ApiError(500, "InternalError", repr(exc)).response()

    async def _serve(self, raw: aiohttp.web.BaseRequest, path: str, route: _Route,
                     data: Any) -> aiohttp.web.StreamResponse:
        if raw.method == "GET" and path.startswith("/openapi/"):
            return _json(openapi.document(self, path))
        self._write = WriteOptions.from_query(raw.query)
        try:
            response = await self._serve_api_request(raw, path, route, data)
            for warning in self._write.warnings:
                escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
                response.headers.add("Warning", f'299 - "{escaped}"')
            return response
        finally:
            self._write = WriteOptions()

    async def _serve_api_request(self, raw: aiohttp.web.BaseRequest, path: str, route: _Route,
                                 data: Any) -> aiohttp.web.StreamResponse:
        method = raw.method
        if route.group is None or route.version is None or route.plural is None:
            return await self._serve_discovery(path, route, method)
        kind = self.kind_of(route.group, route.version, route.plural)
        if kind is not None and kind.resource == _PODS and method == "GET" and \
                route.subresource == "log" and route.name is not None:
            return self.pod_logs.answer(self._require(kind, route.namespace, route.name),
                                        raw.query)
        if kind is None or (route.namespace is not None and not kind.namespaced) or \
                route.subresource not in (None, "status") or \
                (route.subresource == "status" and not kind.has_status):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace, name, query = route.namespace, route.name, raw.query
        if kind.namespaced and name is not None and namespace is None and method != "GET":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET" and query.get("watch") in ("true", "1"):
            return await self._watch(raw, kind, namespace, name)
        as_table = tables.wants_table(raw.headers.get("Accept", ""))
        if method == "GET" and name is not None:
            found = self._require(kind, namespace, name)
            if as_table:
                return _json(self._table(kind, [found], query))
            return _json(found)
        if method == "GET":
            listed = self.list_objects(kind, namespace, query.get("labelSelector"),
                                       query.get("fieldSelector"))
            if as_table:
                return _json(self._table(kind, listed["items"], query))
            if query.get("limit"):
                return _json(_page(listed, int(query["limit"]), query.get("continue")))
            return _json(listed)
        if method == "POST" and name is None:
            return _json(self.create_object(kind, namespace, data), 201)
        if method == "PUT" and name is not None:
            return _json(self.replace_object(kind, namespace, name, route.subresource, data))
        if method == "PATCH" and name is not None:
            content_type = raw.headers.get("Content-Type", "").split(";")[0].strip()
            return _json(self.patch_object(kind, namespace, name, route.subresource, data,
                                           content_type))
        if method == "DELETE":
            options = dict(data) if isinstance(data, Mapping) else {}
            for param in ("propagationPolicy", "orphanDependents"):
                if param in query:
                    options.setdefault(param, query[param] if param == "propagationPolicy"
                                       else query[param] == "true")
            if name is None:
                self.delete_collection(kind, namespace, query.get("labelSelector"),
                                       query.get("fieldSelector"), options)
                return _json(status_body(200, "", ""))
            obj, gone = self.delete_object(kind, namespace, name, options)
            warn = kind.resource == _JOBS and \
                "propagationPolicy" not in options and "orphanDependents" not in options
            return _json(obj, 200 if gone else 202,
                         {"Warning": JOB_DELETION_WARNING} if warn else None)
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")

    async def _serve_discovery(self, path: str, route: _Route,
                               method: str) -> aiohttp.web.StreamResponse:
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")
        if path in ("/healthz", "/livez", "/readyz"):
            return aiohttp.web.Response(text="ok")
        request = kmock.Request(resource=None if route.group is None else kmock.resource(
            group=route.group, version=route.version))
        payload: Any
        if path == "/":
            payload = await self._serve_root(request)
        elif path == "/version":
            payload = await self._serve_server_version(request)
        elif path == "/api":
            payload = await self._serve_api(request)
        elif path == "/apis":
            payload = await self._serve_apis(request)
        elif route.group is not None and route.version is None:
            payload = await self._serve_group(request)
        elif route.group is not None:
            payload = await self._serve_version(request)
            if route.group == "":  # kmock says "/v1": kubectl then drops the core group
                payload["groupVersion"] = "v1"
            for entry in payload["resources"]:
                if "/" in entry["name"]:  # subresources have no short names of their own
                    entry["shortNames"], entry["categories"] = [], []
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return _json(payload)


def _spec_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Everything that counts for metadata.generation: all but metadata and status."""
    return {key: value for key, value in obj.items() if key not in _NOT_SPEC}


def _translate(entry: _Event,
               selects: Callable[[Mapping[str, Any]], bool]) -> Iterable[dict[str, Any]]:
    """One store event as a selective watcher sees it (objects entering/leaving the selection)."""
    now = selects(entry.obj)
    before = entry.old is not None and entry.type == "MODIFIED" and selects(entry.old)
    if entry.type == "MODIFIED" and before and not now:
        return [{"type": "DELETED", "object": entry.obj}]
    if entry.type == "MODIFIED" and now and not before:
        return [{"type": "ADDED", "object": entry.obj}]
    return [{"type": entry.type, "object": entry.obj}] if now else []


def _action(method: str, route: _Route, query: Mapping[str, str]) -> kmock.action | None:
    if route.plural is None:
        return None
    if method == "GET":
        if query.get("watch") in ("true", "1"):
            return kmock.action.WATCH
        return kmock.action.FETCH if route.name else kmock.action.LIST
    named = {"PATCH": kmock.action.UPDATE, "DELETE": kmock.action.DELETE}
    if method == "POST" and route.name is None:
        return kmock.action.CREATE
    return named.get(method) if route.name else None


def _json(payload: Any, status: int = 200,
          headers: Mapping[str, str] | None = None) -> aiohttp.web.Response:
    return aiohttp.web.json_response(payload, status=status, headers=headers)


def _page(listed: dict[str, Any], limit: int, token: str | None) -> dict[str, Any]:
    """One page of a list, as the API server pages with `limit` and `continue`: items in
    (namespace, name) order after the token's last key, and every page reporting the first
    page's resourceVersion (a watch from it replays what changed while the pages were read;
    the emulator keeps no old versions, so a later page shows objects as they are now)."""
    after: tuple[str, str] | None = None
    version = listed["metadata"]["resourceVersion"]
    if token:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
        after, version = (state["namespace"], state["name"]), state["resourceVersion"]

    def key(obj: Mapping[str, Any]) -> tuple[str, str]:
        return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])

    items = [obj for obj in listed["items"] if after is None or key(obj) > after]
    page, rest = items[:max(1, limit)], items[max(1, limit):]
    meta: dict[str, Any] = {"resourceVersion": version}
    if rest:
        last = key(page[-1])
        meta["continue"] = base64.urlsafe_b64encode(json.dumps(
            {"namespace": last[0], "name": last[1], "resourceVersion": version}).encode()
        ).decode()
        meta["remainingItemCount"] = len(rest)
    return {**listed, "metadata": meta, "items": page}
