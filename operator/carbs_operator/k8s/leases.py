"""Shard Leases: each replica holds some shards through coordination.k8s.io/v1 Leases and
reconciles only the studies of the shards it holds (rules in shards.py).

Per shard one Lease `<group>-shard-<i>`; per replica one member Lease
`<group>-member-<k>` that it renews to say it is alive: slot k is the lowest one free or
expired when the replica starts, so the member Leases stay as few as the replicas that ran at
once, and the operator needs no right to delete a Lease (get, list, watch, create, update).
Every `lease_seconds / 3` a replica lists the group's Leases (one list call), renews its
own (its first round does only that, so replicas started together see each other before
they take shards), computes which shards it should hold among the live members, gives up
those it should not (its studies stopped first, then the Lease emptied), and takes those it
should (a free or expired Lease, taken by a PUT carrying the resourceVersion it read: of
two replicas racing for it one gets a 409 and backs off).

Expiry is judged as client-go's leader election judges it: a Lease is expired when its
resourceVersion has not changed for its leaseDurationSeconds as measured on this replica's
own clock since it first saw that version, so clocks that disagree between nodes do not
matter. A replica that cannot renew for 0.8 of the duration stops its studies and forgets
its shards before any other replica can see them expired, so a study is never reconciled
by two replicas at once, even across a network partition. A dead replica's shards are taken
over once its Leases expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from carbs_operator.k8s.shards import desired_shards

log = logging.getLogger("carbs_operator")
GROUP, VERSION, PLURAL = "coordination.k8s.io", "v1", "leases"
LABEL_GROUP = "carbs.dev/lease-group"
LABEL_ROLE = "carbs.dev/lease-role"
DEFAULT_GROUP = "carbs-operator"
LEASE_SECONDS = 15.0
#: Own shards are dropped when no renewal succeeded for this share of the lease duration.
RENEW_DEADLINE = 0.8
REQUEST_TIMEOUT = 5.0


def micro_time(seconds: float | None = None) -> str:
    stamp = datetime.fromtimestamp(time.time() if seconds is None else seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def replica_identity() -> str:
    """This process's name among the replicas: the pod's name and a random suffix (a
    restarted process is a new member; its old Leases simply expire)."""
    host = (os.environ.get("POD_NAME") or socket.gethostname() or "carbs").lower()
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in host).strip("-")[:40]
    return f"{safe or 'carbs'}-{secrets.token_hex(3)}"


class LeaseClient:
    """The four Lease calls, blocking client in the default thread pool."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str) -> None:
        self._custom = k8s.CustomObjectsApi(api_client)
        self.namespace = namespace

    @staticmethod
    async def _call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(fn, *args, _request_timeout=REQUEST_TIMEOUT, **kwargs)

    async def list(self, group: str) -> list[dict[str, Any]]:
        found = await self._call(
            self._custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL,
            label_selector=f"{LABEL_GROUP}={group}")
        return list(found.get("items") or [])

    async def create(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The created Lease, or None when one of that name exists already."""
        try:
            created: dict[str, Any] = await self._call(
                self._custom.create_namespaced_custom_object, GROUP, VERSION, self.namespace,
                PLURAL, body)
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        return created

    async def replace(self, lease: dict[str, Any]) -> dict[str, Any] | None:
        """PUT `lease` (its resourceVersion a precondition); None on a conflict or when it
        is gone: someone else wrote it first."""
        try:
            written: dict[str, Any] = await self._call(
                self._custom.replace_namespaced_custom_object, GROUP, VERSION, self.namespace,
                PLURAL, lease["metadata"]["name"], lease)
        except ApiException as error:
            if error.status in (404, 409):
                return None
            raise
        return written


class ShardKeeper:
    """Takes, renews and gives up this replica's shard Leases (see the module docstring).

    `on_acquire(shard)` starts the shard's studies; `await on_release(shard)` stops them and
    returns only when none of them is reconciling any more; `on_change(held)` reports.
    """

    def __init__(
        self, leases: LeaseClient, shards: int, *,
        on_acquire: Callable[[int], None],
        on_release: Callable[[int], Awaitable[None]],
        on_change: Callable[[set[int], int], None] | None = None,
        identity: str | None = None, group: str = DEFAULT_GROUP,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.leases = leases
        self.shards = shards
        self.identity = identity or replica_identity()
        self.group = group
        self.lease_seconds = lease_seconds
        self.on_acquire = on_acquire
        self.on_release = on_release
        self.on_change = on_change
        self.held: set[int] = set()
        self.members: set[str] = {self.identity}
        self._seen: dict[str, tuple[str, float]] = {}
        self._renewed_at = time.monotonic()
        self._stopping = False
        self._announced = False
        self.member_object: dict[str, Any] | None = None
        self.slot: int | None = None

    # -- names and bodies -------------------------------------------------------------
    def shard_lease(self, shard: int) -> str:
        return f"{self.group}-shard-{shard}"

    def member_lease(self, slot: int) -> str:
        return f"{self.group}-member-{slot}"

    def _body(self, name: str, role: str, old: dict[str, Any] | None,
              holder: str) -> dict[str, Any]:
        now = micro_time()
        spec = dict((old or {}).get("spec") or {})
        taken = spec.get("holderIdentity") != holder
        transitions = int(spec.get("leaseTransitions") or 0) + (1 if taken and old else 0)
        spec.update(holderIdentity=holder or None, renewTime=now,
                    leaseDurationSeconds=max(1, round(self.lease_seconds)),
                    leaseTransitions=transitions)
        if taken:
            spec["acquireTime"] = now
        metadata: dict[str, Any] = {"name": name, "namespace": self.leases.namespace,
                                    "labels": {LABEL_GROUP: self.group, LABEL_ROLE: role}}
        if old is not None:
            metadata = {**old["metadata"], "labels": metadata["labels"]}
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Lease", "metadata": metadata,
                "spec": {k: v for k, v in spec.items() if v is not None}}

    # -- what the list says -----------------------------------------------------------
    def _expired(self, lease: dict[str, Any], now: float) -> bool:
        """Free (no holder) or unchanged for its whole duration, as seen from here."""
        spec = lease.get("spec") or {}
        if not spec.get("holderIdentity"):
            return True
        meta = lease["metadata"]
        version = str(meta.get("resourceVersion"))
        seen = self._seen.get(meta["name"])
        if seen is None or seen[0] != version:
            self._seen[meta["name"]] = (version, now)
            return False
        duration = float(spec.get("leaseDurationSeconds") or self.lease_seconds)
        return now - seen[1] >= duration

    # -- one round ----------------------------------------------------------------------
    async def tick(self) -> None:
        began = time.monotonic()
        items = await self.leases.list(self.group)
        by_name = {item["metadata"]["name"]: item for item in items}
        members = {self.identity}
        for item in items:
            labels = item["metadata"].get("labels") or {}
            holder = (item.get("spec") or {}).get("holderIdentity")
            if labels.get(LABEL_ROLE) == "member" and holder and holder != self.identity \
                    and not self._expired(item, began):
                members.add(str(holder))
        for name in [n for n in self._seen if n not in by_name]:
            del self._seen[name]
        await self._renew_member(by_name, began)
        self.members = members
        if not self._announced:
            # The first round only says this replica is alive. Replicas started together
            # (a new Deployment, a rollout) then see each other before any takes a shard;
            # otherwise the first to run a round takes all of them, and half move a round
            # later, their studies stopped for the handover.
            self._announced = True
            self._renewed_at = began
            return
        desired = desired_shards(self.identity, members, self.shards)
        before = set(self.held)
        for shard in sorted(self.held):
            lease = by_name.get(self.shard_lease(shard))
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                await self._drop(shard, "its Lease was taken or deleted")
            elif shard not in desired:
                await self._give_up(shard, lease)
            elif await self.leases.replace(self._body(lease["metadata"]["name"], "shard", lease,
                                                      self.identity)) is None:
                await self._drop(shard, "its Lease changed under it")
        for shard in sorted(desired - self.held):
            if self._stopping:
                break
            await self._take(shard, by_name.get(self.shard_lease(shard)), began)
        self._renewed_at = began
        if self.held != before and self.on_change is not None:
            self.on_change(set(self.held), len(members))

    async def _renew_member(self, by_name: dict[str, dict[str, Any]], now: float) -> None:
        """Renew this replica's member slot, or claim the lowest free or expired one."""
        if self.slot is not None:
            lease = by_name.get(self.member_lease(self.slot))
            if lease is not None and (lease.get("spec") or {}).get("holderIdentity") \
                    == self.identity:
                written = await self.leases.replace(
                    self._body(self.member_lease(self.slot), "member", lease, self.identity))
                if written is not None:
                    self.member_object = written
                    return
            self.slot = None
        for slot in range(len(by_name) + 1):
            name = self.member_lease(slot)
            lease = by_name.get(name)
            if lease is None:
                written = await self.leases.create(self._body(name, "member", None,
                                                              self.identity))
            elif self._expired(lease, now):
                written = await self.leases.replace(self._body(name, "member", lease,
                                                               self.identity))
            else:
                continue
            if written is not None:
                self.slot, self.member_object = slot, written
                return

    async def _take(self, shard: int, lease: dict[str, Any] | None, now: float) -> None:
        name = self.shard_lease(shard)
        if lease is None:
            taken = await self.leases.create(self._body(name, "shard", None, self.identity))
        elif self._expired(lease, now):
            taken = await self.leases.replace(self._body(name, "shard", lease, self.identity))
        else:
            return  # still held by its previous holder: it gives it up on its next round
        if taken is not None:
            self.held.add(shard)
            self.on_acquire(shard)

    async def _give_up(self, shard: int, lease: dict[str, Any]) -> None:
        """Stop the shard's studies, then empty its Lease for the replica that should hold it."""
        self.held.discard(shard)
        await self.on_release(shard)
        await self.leases.replace(self._body(lease["metadata"]["name"], "shard", lease, ""))

    async def _drop(self, shard: int, why: str) -> None:
        log.warning("shard %d: %s; its studies are stopped here", shard, why)
        self.held.discard(shard)
        await self.on_release(shard)

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        """Rounds every lease_seconds / 3 until cancelled; a round that fails is logged,
        and past the renew deadline the shards are dropped."""
        while not self._stopping:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # an API error: try again next round
                log.warning("shard leases: %s", error)
                if self.held and time.monotonic() - self._renewed_at \
                        > RENEW_DEADLINE * self.lease_seconds:
                    before = set(self.held)
                    for shard in sorted(before):
                        await self._drop(shard, "its Lease could not be renewed in time")
                    if self.on_change is not None:
                        self.on_change(set(), len(self.members))
            await asyncio.sleep(self.lease_seconds / 3)

    async def release_all(self) -> None:
        """On shutdown: stop every study of ours, empty our Leases, leave the members."""
        self._stopping = True
        try:
            items = {i["metadata"]["name"]: i for i in await self.leases.list(self.group)}
        except Exception:  # the API is gone: the Leases expire instead
            items = {}
        had = bool(self.held)
        for shard in sorted(self.held):
            self.held.discard(shard)
            await self.on_release(shard)
        # Every shard Lease the list says is ours, not only those held: a round cancelled
        # by the shutdown may have taken one whose answer it never saw.
        for lease in items.values():
            spec = lease.get("spec") or {}
            labels = lease["metadata"].get("labels") or {}
            if labels.get(LABEL_ROLE) == "shard" and spec.get("holderIdentity") == self.identity:
                with _Quiet():
                    await self.leases.replace(self._body(lease["metadata"]["name"], "shard",
                                                         lease, ""))
        member = items.get(self.member_lease(self.slot)) if self.slot is not None else None
        if member is not None:
            with _Quiet():
                await self.leases.replace(self._body(member["metadata"]["name"], "member",
                                                     member, ""))
        if had and self.on_change is not None:
            self.on_change(set(), len(self.members))


class _Quiet:
    """Ignore API errors on the way out (the Leases then expire on their own)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> bool:
        return kind is not None and issubclass(kind, Exception)
