"""Which replica should hold each shard (k8s/shards.py): pure rules."""

from __future__ import annotations

from collections import Counter

from carbs_operator.k8s.shards import assignment, desired_shards


def names(count: int, prefix: str = "carbs-operator-7d9f") -> list[str]:
    return [f"{prefix}-{index:02x}{index * 37 % 256:02x}" for index in range(count)]


def test_every_shard_has_one_owner_and_the_shares_are_even() -> None:
    for replicas in range(1, 7):
        for shards in (1, 5, 16, 64):
            members = names(replicas, prefix=f"r{replicas}-{shards}")
            owners = assignment(members, shards)
            assert sorted(owners) == list(range(shards))
            loads = Counter(owners.values())
            cap = -(-shards // replicas)
            assert max(loads.values()) <= cap
            split = {m: desired_shards(m, members, shards) for m in members}
            assert sorted(s for held in split.values() for s in held) == list(range(shards))


def test_plain_rendezvous_would_be_uneven_for_these_names_and_the_bound_evens_it() -> None:
    """Two replicas whose rendezvous weights favour one of them: without the bound one would
    hold most of the 16 shards."""
    from carbs_operator.k8s.shards import _weight

    pairs = [(a, b) for a in names(12, "a") for b in names(12, "b")]
    skewed = next((a, b) for a, b in pairs if sum(
        _weight(a, s) > _weight(b, s) for s in range(16)) >= 11)
    assert Counter(assignment(skewed, 16).values()) == {skewed[0]: 8, skewed[1]: 8}


def test_a_joining_replica_moves_few_shards_beyond_its_own_share() -> None:
    members = names(3)
    before = assignment(members, 16)
    after = assignment([*members, "joiner-1"], 16)
    moved = sum(before[s] != after[s] for s in range(16))
    gained = sum(owner == "joiner-1" for owner in after.values())
    assert gained == 4
    assert moved <= 2 * gained
    assert assignment(members, 16) == before  # the same answer in every replica


def test_no_members_no_owners() -> None:
    assert assignment([], 16) == {}
