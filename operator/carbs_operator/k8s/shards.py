"""Which shard a study is in, and which replica should hold each shard: pure rules.

A study's shard is a stable hash of its uid (sha256, modulo the shard count): the same in
every replica, every restart and every Python version (`hash()` is salted per process),
and unchanged by a rename-free edit of the study. The shard count is fixed by the
operator's arguments, not by the number of replicas, so scaling the replicas moves whole
shards (Leases) between replicas and never re-hashes a study.

Which live replica should hold a shard is rendezvous (highest-random-weight) hashing over
the replicas' identities: every replica computes the same answer from the same set of
members, each gets an even share, and when one joins or leaves only the shards it gains
or loses move.
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


def desired_owner(shard: int, members: Iterable[str]) -> str | None:
    """The member that should hold `shard` (None without members)."""
    return max(members, key=lambda m: (_weight(m, shard), m), default=None)


def desired_shards(me: str, members: Iterable[str], shards: int) -> set[int]:
    """The shards `me` should hold among `members` (`me` counted among them)."""
    everyone = sorted({*members, me})
    return {s for s in range(shards) if desired_owner(s, everyone) == me}
