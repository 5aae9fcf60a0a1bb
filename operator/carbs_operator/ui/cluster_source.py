"""Cluster studies for `carbs ui --cluster`: CarbsStudy and CarbsTrial objects, mirrored.

Two list+watch mirrors (one per kind, for one namespace or all), as a client-go informer
keeps them: a page view reads memory, never the API. Only what the UI shows is kept: a
study's object and each trial's record (not its raw object), so 200 studies of 500 trials
fit in a few hundred MiB. The one request a page makes is a pod's log tail, on a trial's
own page. Nothing here writes to the cluster.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from carbs_operator.k8s.api import REQUEST_TIMEOUT_SECONDS, STUDIES, TRIALS, Resource
from carbs_operator.k8s.trials import usable_record
from carbs_operator.kube_client import current_namespace, kube_api_client
from carbs_operator.models import StudySpec, StudyStatus
from carbs_operator.study import TrialRecord, trial_name
from carbs_operator.template import LABEL_STUDY, LABEL_TRIAL, primary_container_name
from carbs_operator.ui.source import JSON, StudyNotFoundError
from carbs_operator.ui.views import StudyRecords, ViewCache
from carbs_operator.validation import ManifestError, parse_study
from carbs_operator.view_json import summary_json

_LOG = logging.getLogger(__name__)
#: Seconds a watch stays open before it is renewed (the server may end it sooner).
WATCH_SECONDS = 60
#: Items per page of a (re)list.
LIST_PAGE = 500
#: The tail of a pod's log a trial page shows.
LOG_LINES, LOG_BYTES = 200, 64 * 1024
Key = tuple[str, str]


def study_key(namespace: str, name: str) -> str:
    """URL-safe: namespaces and names are DNS labels or subdomains, `~` is in neither."""
    return f"{namespace}~{name}"


class Mirror:
    """Every object of one resource, kept current by list, then watch from its version.

    A watch that ends is renewed from the last version seen; one whose version is too old
    (410 Gone) lists afresh. `keep` turns an object into what is stored (None: drop it).
    """

    def __init__(self, api: Any, resource: Resource, namespace: str | None,
                 keep: Callable[[Mapping[str, Any]], Any],
                 on_change: Callable[[Key, Any, Any], None]) -> None:
        self.api, self.resource, self.namespace = api, resource, namespace
        self.keep, self.on_change = keep, on_change
        self.items: dict[Key, Any] = {}
        self.synced = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"mirror-{resource.plural}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _call(self, **options: Any) -> Any:
        r = self.resource
        options.setdefault("_request_timeout", REQUEST_TIMEOUT_SECONDS)
        if self.namespace is None:
            return self.api.list_cluster_custom_object(r.group, r.version, r.plural, **options)
        return self.api.list_namespaced_custom_object(r.group, r.version, self.namespace,
                                                      r.plural, **options)

    def _list(self) -> str:
        """Replace every item with a fresh list, read in pages (a list of 100,000 trials
        in one answer would hold them all as JSON at once); the resourceVersion of its
        first page, from which a watch replays whatever changed while the pages were read."""
        seen: dict[Key, Any] = {}
        token: str | None = None
        version: str | None = None
        while True:
            page = cast(dict[str, Any], self._call(limit=LIST_PAGE, _continue=token))
            for obj in page.get("items") or []:
                self._put(seen, obj)
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            token = meta.get("continue")
            del page
            if not token:
                break
        for key in set(self.items) - set(seen):
            self._apply(key, None)
        for key, value in seen.items():
            self._apply(key, value)
        return version or ""

    def _put(self, into: dict[Key, Any], obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        into[(str(meta.get("namespace")), str(meta.get("name")))] = self.keep(obj)

    def _apply(self, key: Key, value: Any) -> None:
        old = self.items.get(key)
        if value is None:
            self.items.pop(key, None)
        else:
            self.items[key] = value
        self.on_change(key, old, value)

    def _events(self, version: str) -> Iterator[dict[str, Any]]:
        from kubernetes import watch

        stream = watch.Watch()  # type: ignore[no-untyped-call]
        try:
            yield from stream.stream(  # type: ignore[no-untyped-call]
                self._call, resource_version=version,
                                     timeout_seconds=WATCH_SECONDS,
                                     allow_watch_bookmarks=True)
        finally:
            stream.stop()  # type: ignore[no-untyped-call]

    def _run(self) -> None:
        from kubernetes.client.exceptions import ApiException

        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    version = self._list()
                    self.synced.set()
                for event in self._events(version):
                    if self._stop.is_set():
                        return
                    obj = event.get("object") or {}
                    kind = event.get("type")
                    if kind == "ERROR":  # 410 Gone, as an event: list afresh
                        version = ""
                        break
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if kind == "BOOKMARK":
                        continue
                    meta = obj.get("metadata") or {}
                    key = (str(meta.get("namespace")), str(meta.get("name")))
                    self._apply(key, None if kind == "DELETED" else self.keep(obj))
            except ApiException as error:
                if error.status == 410:
                    version = ""
                    continue
                _LOG.warning("watching %s: %s %s", self.resource.plural, error.status,
                             error.reason)
                self._stop.wait(5.0)
            except Exception as error:
                _LOG.warning("watching %s: %r", self.resource.plural, error)
                self._stop.wait(5.0)


@dataclass(frozen=True)
class MirroredStudy:
    """A CarbsStudy as the UI keeps it, read once as it arrives (not on every list poll
    and page): its manifest without status or managedFields (kubectl hides them too), its
    spec (None, with `problem`, where it does not validate) and the operator's status."""

    manifest: dict[str, Any]
    spec: StudySpec | None
    problem: ManifestError | None
    status: StudyStatus | None


def _study_object(obj: Mapping[str, Any]) -> MirroredStudy:
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    manifest = {**{k: v for k, v in obj.items() if k != "status"}, "metadata": meta}
    try:
        return MirroredStudy(manifest, parse_study(manifest).spec, None, _status(obj))
    except ManifestError as error:
        return MirroredStudy(manifest, None, error, _status(obj))


def _trial_record(obj: Mapping[str, Any]) -> tuple[str, TrialRecord] | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    record = usable_record(obj)
    study = labels.get(LABEL_STUDY)
    return None if record is None or not study else (str(study), record)


class ClusterSource:
    """The CarbsStudy objects of one namespace, or of all."""

    def __init__(self, api_client: Any, namespaces: Sequence[str] | None) -> None:
        """`namespaces` None: every namespace (one cluster-wide watch per kind)."""
        from kubernetes import client as k8s

        self._core = k8s.CoreV1Api(api_client)
        custom = k8s.CustomObjectsApi(api_client)
        self._lock = threading.Lock()
        self._revisions: dict[str, int] = defaultdict(int)
        self._trials: dict[str, dict[str, TrialRecord]] = defaultdict(dict)
        self._views = ViewCache()
        scopes: list[str | None] = list(namespaces) if namespaces is not None else [None]
        self.studies_mirrors = [Mirror(custom, STUDIES, scope, _study_object,
                                       self._study_changed) for scope in scopes]
        self.trials_mirrors = [Mirror(custom, TRIALS, scope, _trial_record,
                                      self._trial_changed) for scope in scopes]

    @classmethod
    def connect(cls, namespaces: Sequence[str] = (), *, all_namespaces: bool = False,
                api_client: Any = None, sync_seconds: float = 30.0) -> ClusterSource:
        scope = None if all_namespaces else (list(namespaces) or [current_namespace()])
        source = cls(api_client or kube_api_client(), scope)
        source.start(sync_seconds)
        return source

    @property
    def _mirrors(self) -> list[Mirror]:
        return [*self.studies_mirrors, *self.trials_mirrors]

    def start(self, sync_seconds: float = 30.0) -> None:
        for mirror in self._mirrors:
            mirror.start()
        deadline = time.monotonic() + sync_seconds
        for mirror in self._mirrors:
            mirror.synced.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        for mirror in self._mirrors:
            mirror.stop()

    def _study_objects(self) -> dict[Key, MirroredStudy]:
        out: dict[Key, MirroredStudy] = {}
        for mirror in self.studies_mirrors:
            out.update(mirror.items)
        return out

    # -- the mirrors' callbacks (their threads) --------------------------------------
    def _study_changed(self, key: Key, old: Any, new: Any) -> None:
        with self._lock:
            self._revisions[study_key(*key)] += 1

    def _trial_changed(self, key: Key, old: Any, new: Any) -> None:
        with self._lock:
            for entry in (old, new):
                if entry is None:
                    continue
                study = study_key(key[0], entry[0])
                self._revisions[study] += 1
                if entry is old:
                    self._trials[study].pop(key[1], None)
                else:
                    self._trials[study][key[1]] = entry[1]

    # -- StudySource ------------------------------------------------------------------
    def _object(self, key: str) -> MirroredStudy:
        namespace, _, name = key.partition("~")
        obj = self._study_objects().get((namespace, name))
        if obj is None:
            raise StudyNotFoundError(key)
        return obj

    def _records(self, key: str) -> StudyRecords:
        study = self._object(key)
        if study.spec is None:
            raise study.problem or StudyNotFoundError(key)
        meta = study.manifest["metadata"]
        with self._lock:
            revision = str(self._revisions[key])
            trials = tuple(self._trials[key].values())
        return StudyRecords(key=key, name=str(meta.get("name")),
                            namespace=str(meta.get("namespace")), source="cluster",
                            revision=revision, spec=study.spec, trials=trials,
                            manifest=study.manifest, previous=study.status)

    def studies(self) -> list[JSON]:
        out = []
        for (namespace, name), study in sorted(self._study_objects().items()):
            key = study_key(namespace, name)
            if study.spec is None:
                _LOG.info("%s: not shown: %s", key, study.problem)
                continue
            with self._lock:
                revision = str(self._revisions[key])
            out.append({**summary_json(name, namespace, study.spec,
                                       study.status or StudyStatus()),
                        "key": key, "source": "cluster", "revision": revision})
        self._views.forget_except([o["key"] for o in out])
        return out

    def revision(self, key: str) -> str:
        self._object(key)
        with self._lock:
            return str(self._revisions[key])

    def view(self, key: str) -> JSON:
        return self._views.view(self._records(key))

    def curves(self, key: str) -> JSON:
        return self._views.curves(self._records(key))

    def importance(self, key: str) -> JSON:
        return self._views.importance(self._records(key))

    def predict(self, key: str, cost: float) -> JSON:
        return self._views.predict(self._records(key), cost)

    def trial(self, key: str, index: int) -> JSON | None:
        records = self._records(key)
        if not any(t.index == index for t in records.trials):
            return None
        return self._views.trial(records, index, self._log(records, index))

    def _log(self, records: StudyRecords, index: int) -> list[str]:
        """The tail of the trial's primary pod's log, or one line saying why there is none."""
        from kubernetes.client.exceptions import ApiException

        from carbs_operator.k8s.workload_api import primary_labels
        from carbs_operator.workloads import primary_pod

        name = trial_name(records.name, index)
        try:
            pods = self._core.list_namespaced_pod(
                records.namespace, label_selector=f"{LABEL_TRIAL}={name}",
                _request_timeout=REQUEST_TIMEOUT_SECONDS).to_dict()
            pod = primary_pod(_camel_pods(pods), primary_labels(records.spec))
            if pod is None:
                return [f"no pod of trial {name} is left"]
            text = self._core.read_namespaced_pod_log(
                pod["metadata"]["name"], records.namespace,
                container=primary_container_name(records.spec), tail_lines=LOG_LINES,
                limit_bytes=LOG_BYTES, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        except ApiException as error:
            return [f"cannot read the log of trial {name}: {error.status} {error.reason}"]
        return str(text).splitlines()[-LOG_LINES:]


def _camel_pods(pods: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The client's snake_case pod dicts, with the few camelCase keys primary_pod reads."""
    out = []
    for pod in pods.get("items") or []:
        meta = pod.get("metadata") or {}
        out.append({"metadata": {"name": meta.get("name"), "labels": meta.get("labels") or {},
                                 "creationTimestamp": str(meta.get("creation_timestamp") or "")},
                    "status": {"phase": (pod.get("status") or {}).get("phase")}})
    return out


def _status(obj: Mapping[str, Any]) -> StudyStatus | None:
    """The status the operator wrote, or None where there is none (or it does not parse:
    the view then computes one afresh)."""
    from pydantic import ValidationError

    try:
        return StudyStatus.model_validate(obj.get("status")) if obj.get("status") else None
    except ValidationError:
        return None
