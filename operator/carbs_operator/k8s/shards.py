"""Which shard a study is in, and which replica should hold each shard: pure rules.

A study's shard is a stable hash of its uid (sha256, modulo the shard count): the same in
every replica, every restart and every Python version (`hash()` is salted per process),
and unchanged by a rename-free edit of the study. The shard count is fixed by the
operator's arguments, not by the number of replicas, so scaling the replicas moves whole
shards (Leases) between replicas and never re-hashes a study.

Which live replica should hold a shard is rendezvous (highest-random-weight) hashing over
the replicas' identities, with bounded loads (Mirrokni, Thorup and Zadimoghaddam, 2018): a
shard goes to the highest-weight replica that holds fewer than ceil(shards / replicas)
already. Every replica computes the same answer from the same set of members; plain
rendezvous hashing gives even shares only on average (16 shards between 2 replicas split
11/5 for some pairs of names), the bound makes them even; and when one joins or leaves,
few shards beyond the ones it gains or loses move.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def shard_of(uid: str, shards: int) -> int:
    """The shard (0 .. shards-1) of the study with this uid."""
    digest = hashlib.sha256(uid.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def _weight(member: str, shard: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{member}/{shard}".encode()).digest()[:8], "big")


def assignment(members: Iterable[str], shards: int) -> dict[int, str]:
    """Which member should hold each shard (empty without members)."""
    everyone = sorted(set(members))
    if not everyone:
        return {}
    cap = -(-shards // len(everyone))
    load = dict.fromkeys(everyone, 0)
    owners: dict[int, str] = {}
    for shard in range(shards):
        ranked = sorted(everyone, key=lambda m: (_weight(m, shard), m), reverse=True)
        owner = next(m for m in ranked if load[m] < cap)
        owners[shard] = owner
        load[owner] += 1
    return owners


def desired_shards(me: str, members: Iterable[str], shards: int) -> set[int]:
    """The shards `me` should hold among `members` (`me` counted among them)."""
    return {s for s, owner in assignment({*members, me}, shards).items() if owner == me}
