"""One study's CarbsTrials, workloads and pods as the operator's shared watches last saw them.

Why: every pass reads its study's trials, each running trial's workload and that workload's
pods. Read from the API server, that is a list of every trial (9 MB of JSON for a study of
10,000) and two requests per running trial, on every pass of every study. The operator's
kopf watches (one per resource, shared by all studies) already deliver each change of those
objects, so `handlers.py` hands them to the study they belong to and the passes read them
here (as client-go's informers do for a controller-runtime reconciler).

`StudyApi` is the API as one study's reconciler sees it: reads of its own trials, workloads
and pods come from this cache, every write goes to the server and its answer into the cache,
so a pass never acts on a state older than its own last write. What keeps it safe:

- the first read of a resource lists it from the server (a study taken over from another
  replica, or just created, starts from what the server holds, not from the events this
  replica happened to see), and it is listed again every `RELIST_SECONDS`: a watch that broke
  and resumed from a newer list never reports the objects deleted meanwhile;
- an object is replaced only by a version at least as new (resourceVersion, compared as the
  integers etcd hands out, as client-go's mutation cache does), so an event delayed behind
  our own write cannot roll a trial back;
- a workload missing from the cache is asked for once more before a trial is called lost,
  and a finished workload's pods are read from the server: its last pod event may still be
  on its way, and the result lives on the pod.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carbs_operator.k8s.api import TRIALS, ObjectApi, Resource
from carbs_operator.models import TrialPhase
from carbs_operator.study import TrialRecord
from carbs_operator.template import LABEL_STUDY, LABEL_TRIAL

#: How often a study's cached resources are listed again from the server (a safety net for
#: deletions a broken watch missed; every other change arrives by the watches).
RELIST_SECONDS = 600.0
#: Objects a list's answer puts in the cache between two yields to the event loop.
LOAD_CHUNK = 500
#: The pods "resource" of the cache (core/v1 pods are read through their own client call).
PODS = Resource("", "v1", "pods")
#: Phases after which a trial's workload and pods are never read again.
SETTLED_PHASES = frozenset({TrialPhase.SUCCEEDED.value, TrialPhase.FAILED.value,
                            TrialPhase.LOST.value})


def _version(obj: Mapping[str, Any]) -> int | None:
    text = (obj.get("metadata") or {}).get("resourceVersion")
    if not isinstance(text, str | int):
        return None
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _name(obj: Mapping[str, Any]) -> str | None:
    name = (obj.get("metadata") or {}).get("name")
    return name if isinstance(name, str) else None


def _trial_of(obj: Mapping[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels")
    trial = labels.get(LABEL_TRIAL) if isinstance(labels, Mapping) else None
    return trial if isinstance(trial, str) else None


def _equality(selector: str) -> tuple[str, str] | None:
    """`key=value`, the one selector form the operator writes, else None."""
    key, sep, value = selector.partition("=")
    if not sep or not key or any(c in selector for c in ",!()") or value.startswith("="):
        return None
    return key.strip(), value.strip()


@dataclass
class _Kept:
    """The objects of one resource and when each was last put (a sequence number)."""

    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    stamps: dict[str, int] = field(default_factory=dict)
    gone: dict[str, int] = field(default_factory=dict)  # name -> last version seen, deleted
    listed_at: float | None = None


class StudyObjects:
    """The cache itself: pure bookkeeping, no API calls (StudyApi makes them)."""

    def __init__(self) -> None:
        self._kept: dict[Resource, _Kept] = {}
        self._sequence = itertools.count(1)
        self._records: dict[str, tuple[int | None, TrialRecord | None]] = {}
        # Trials concluded for good: nothing reads their workloads or pods again, so those
        # are not kept (a study of 10,000 trials whose Jobs stay would hold 10,000 Jobs and
        # Pods). An early-stopped trial's workload is kept until it is deleted.
        self._settled: set[str] = set()

    def _of(self, resource: Resource) -> _Kept:
        return self._kept.setdefault(resource, _Kept())

    def put(self, resource: Resource, obj: Mapping[str, Any]) -> None:
        """An object as an event or a write returned it; ignored when older than the one
        kept, or than the version it was deleted at."""
        name = _name(obj)
        if name is None:
            return
        if resource != TRIALS and _trial_of(obj) in self._settled:
            return
        kept = self._of(resource)
        version = _version(obj)
        known = kept.objects.get(name)
        floor = _version(known) if known is not None else kept.gone.get(name)
        if version is not None and floor is not None and version < floor:
            return
        kept.gone.pop(name, None)
        kept.objects[name] = dict(obj)
        kept.stamps[name] = next(self._sequence)
        if resource == TRIALS and (obj.get("status") or {}).get("phase") in SETTLED_PHASES:
            self._settle(name)

    def _settle(self, trial: str) -> None:
        self._settled.add(trial)
        for resource, kept in self._kept.items():
            if resource != TRIALS:
                for name in [n for n, o in kept.objects.items() if _trial_of(o) == trial]:
                    del kept.objects[name]
                    del kept.stamps[name]

    def remove(self, resource: Resource, name: str, version: int | None = None) -> None:
        """Deleted (an event's last version, or our own delete: the version kept)."""
        kept = self._of(resource)
        known = kept.objects.pop(name, None)
        kept.stamps.pop(name, None)
        last = version if version is not None else (_version(known) if known else None)
        if last is not None:
            kept.gone[name] = last

    def observe(self, resource: Resource, event: Mapping[str, Any]) -> None:
        """A watch event: {"type": ADDED|MODIFIED|DELETED|None, "object": ...}."""
        obj = event.get("object")
        if not isinstance(obj, Mapping):
            return
        if event.get("type") == "DELETED":
            name = _name(obj)
            if name is not None:
                self.remove(resource, name, _version(obj))
        else:
            self.put(resource, obj)

    def mark(self) -> int:
        """A point in the sequence: what is put after it is newer than a list begun now."""
        return next(self._sequence)

    async def load(self, resource: Resource, objects: list[dict[str, Any]], mark: int,
                   now: float) -> None:
        """A list's answer: its objects put, and those it lacks removed unless they were put
        after the list began (created or changed while it was on its way). Yields to the
        loop every LOAD_CHUNK objects: a study of 10,000 trials must not hold the others."""
        kept = self._of(resource)
        names = set()
        for position, obj in enumerate(objects):
            if position % LOAD_CHUNK == LOAD_CHUNK - 1:
                await asyncio.sleep(0)
            name = _name(obj)
            if name is not None:
                names.add(name)
                self.put(resource, obj)
        for name in [n for n in kept.objects if n not in names and kept.stamps[n] < mark]:
            self.remove(resource, name)
        kept.listed_at = now

    def listed_at(self, resource: Resource) -> float | None:
        kept = self._kept.get(resource)
        return kept.listed_at if kept is not None else None

    def objects(self, resource: Resource) -> list[dict[str, Any]]:
        return list(self._of(resource).objects.values())

    def find(self, resource: Resource, name: str) -> dict[str, Any] | None:
        return self._of(resource).objects.get(name)

    def matching(self, resource: Resource, key: str, value: str) -> list[dict[str, Any]]:
        return [obj for obj in self._of(resource).objects.values()
                if ((obj.get("metadata") or {}).get("labels") or {}).get(key) == value]

    def record(self, obj: Mapping[str, Any]) -> TrialRecord | None:
        """The trial's record, parsed once per version of the object (a pass over a study of
        thousands of finished trials would otherwise parse each of them every time)."""
        from carbs_operator.k8s.trials import usable_record

        name, version = _name(obj), _version(obj)
        if name is not None and version is not None:
            memo = self._records.get(name)
            if memo is not None and memo[0] == version:
                return memo[1]
        record = usable_record(obj)
        if name is not None and version is not None:
            self._records[name] = (version, record)
        return record


class StudyApi:
    """The API as one study's reconciler sees it (see the module's docstring)."""

    def __init__(self, api: ObjectApi, namespace: str, study: str, *,
                 relist_seconds: float = RELIST_SECONDS) -> None:
        self.api = api
        self.namespace = namespace
        self.study = study
        self.cache = StudyObjects()
        self.relist_seconds = relist_seconds
        self._own = f"{LABEL_STUDY}={study}"

    def observe(self, resource: Resource, event: Mapping[str, Any]) -> None:
        self.cache.observe(resource, event)

    def _ours(self, namespace: str, label_selector: str | None = None) -> bool:
        return namespace == self.namespace and label_selector in (None, self._own)

    async def _listed(self, resource: Resource) -> None:
        """List `resource` when it never was, or not for `relist_seconds`."""
        now = time.monotonic()
        listed = self.cache.listed_at(resource)
        if listed is not None and now - listed < self.relist_seconds:
            return
        mark = self.cache.mark()
        if resource == PODS:
            found = await self.api.pods(self.namespace, self._own)
        else:
            found = await self.api.list_objects(resource, self.namespace, self._own)
        await self.cache.load(resource, found, mark, now)

    def record(self, obj: Mapping[str, Any]) -> TrialRecord | None:
        return self.cache.record(obj)

    # -- reads ---------------------------------------------------------------------------
    async def list_objects(self, resource: Resource, namespace: str,
                           label_selector: str) -> list[dict[str, Any]]:
        if not self._ours(namespace, label_selector):  # e.g. a warm start's source study
            return await self.api.list_objects(resource, namespace, label_selector)
        await self._listed(resource)
        return self.cache.objects(resource)

    async def get(self, resource: Resource, namespace: str,
                  name: str) -> dict[str, Any] | None:
        if resource == TRIALS or not self._ours(namespace):
            # A trial is read back only when a create answered without it (rare), and the
            # study itself is read to check it still exists: from the server, both.
            return await self.api.get(resource, namespace, name)
        await self._listed(resource)
        found = self.cache.find(resource, name)
        if found is None:  # not seen: ask once more before anyone acts on its absence
            found = await self.api.get(resource, namespace, name)
            if found is not None and _labelled(found, self.study):
                self.cache.put(resource, found)
        return found

    async def pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        pair = _equality(label_selector)
        if not self._ours(namespace) or pair is None:
            return await self.api.pods(namespace, label_selector)
        await self._listed(PODS)
        # The study's labelled pods only: pods that do not carry its label (a TrainJob's
        # controller labels its own) are read with fresh_pods, as no event brings them.
        return self.cache.matching(PODS, *pair)

    async def fresh_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        found = await self.api.fresh_pods(namespace, label_selector)
        if namespace == self.namespace:
            for pod in found:
                if _labelled(pod, self.study):
                    self.cache.put(PODS, pod)
        return found

    async def served(self, resource: Resource) -> bool:
        return await self.api.served(resource)

    async def pod_log(self, namespace: str, pod: str, container: str, limit_bytes: int, *,
                      tail_lines: int | None = None, since_seconds: int | None = None,
                      timestamps: bool = False) -> tuple[str | None, str | None]:
        return await self.api.pod_log(namespace, pod, container, limit_bytes,
                                      tail_lines=tail_lines, since_seconds=since_seconds,
                                      timestamps=timestamps)

    # -- writes: to the server, and the answer into the cache ------------------------------
    async def create(self, resource: Resource, namespace: str,
                     body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        obj, fresh = await self.api.create(resource, namespace, body)
        if self._ours(namespace) and _labelled(obj, self.study):
            self.cache.put(resource, obj)
        return obj, fresh

    async def patch_status(self, resource: Resource, namespace: str, name: str,
                           status: dict[str, Any]) -> dict[str, Any] | None:
        obj = await self.api.patch_status(resource, namespace, name, status)
        if obj is not None and self._ours(namespace) and _labelled(obj, self.study):
            self.cache.put(resource, obj)
        return obj

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        await self.api.delete(resource, namespace, name)
        if self._ours(namespace):
            self.cache.remove(resource, name)


def _labelled(obj: Any, study: str) -> bool:
    """One of this study's objects (anything else, even no object at all, is not kept)."""
    if not isinstance(obj, Mapping) or not isinstance(obj.get("metadata"), Mapping):
        return False
    labels = obj["metadata"].get("labels")
    return isinstance(labels, Mapping) and labels.get(LABEL_STUDY) == study
