"""The glue between shard Leases (leases.py) and the study reconcilers (handlers.py):
which namespace holds the Leases, and how a replica says which shards it holds (a log
line, Prometheus gauges and a Kubernetes Event on its member Lease)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from carbs_operator.k8s.leases import ShardKeeper
from carbs_operator.k8s.shards import shard_of

log = logging.getLogger("carbs_operator")


def lease_namespace(namespaces: Sequence[str]) -> str:
    """Where the shard Leases live: the operator's own namespace in a pod (the chart sets
    POD_NAMESPACE), else the first namespace it watches, else `default`. Every replica
    started with the same arguments finds the same place."""
    own = os.environ.get("POD_NAMESPACE")
    if own:
        return own
    for namespace in namespaces:
        if not set(namespace) & set("*?[!"):
            return namespace
    return "default"


def study_shard(body: Mapping[str, Any], shards: int) -> int:
    uid = str((body.get("metadata") or {}).get("uid") or "")
    return shard_of(uid, shards)


class ShardReport:
    """`keeper.on_change`: log, gauges (carbs_operator_shards_held, carbs_operator_shard_held)
    and an Event, each time the set of held shards changes."""

    def __init__(self, registry: CollectorRegistry | None,
                 post_event: Callable[[Mapping[str, Any], str, str, str], None]) -> None:
        self.keeper: ShardKeeper | None = None
        self.post_event = post_event
        self.count: Gauge | None = None
        self.held: Gauge | None = None
        self._shown: set[int] = set()
        if registry is not None:
            self.count = Gauge("carbs_operator_shards_held",
                               "Study shards this operator replica holds (one Lease each).",
                               ["replica"], registry=registry)
            self.held = Gauge("carbs_operator_shard_held",
                              "1 for each study shard this replica holds.",
                              ["replica", "shard"], registry=registry)

    def __call__(self, held: set[int], members: int) -> None:
        keeper = self.keeper
        if keeper is None:
            return
        shards = ", ".join(map(str, sorted(held))) or "none"
        message = (f"replica {keeper.identity} holds shards [{shards}] of {keeper.shards} "
                   f"({members} replica(s) live)")
        log.info("%s", message)
        if self.count is not None and self.held is not None:
            self.count.labels(keeper.identity).set(len(held))
            for shard in self._shown - held:
                with contextlib.suppress(KeyError):
                    self.held.remove(keeper.identity, str(shard))
            for shard in held:
                self.held.labels(keeper.identity, str(shard)).set(1)
        self._shown = set(held)
        member = keeper.member_object
        if member is not None:
            with contextlib.suppress(Exception):  # Events are best effort
                self.post_event(member, "Normal", "ShardsHeld", message)
