"""How many CPUs this process may use: the pod's limit, not the node's size.

A container sees every core of its node (`os.cpu_count()`), but its cgroup may allow it
only a fraction of them; a pool sized from the node's count would run dozens of workers
that the CFS quota then throttles in turn. The limit is the smallest of: the CPUs the
scheduler lets this process run on (`sched_getaffinity`), the cgroup v2 `cpu.max` quota,
and the cgroup v1 `cpu.cfs_quota_us / cpu.cfs_period_us` quota, rounded up, at least 1.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _v2_quota(root: Path) -> float | None:
    """cgroup v2: `cpu.max` holds "QUOTA PERIOD" or "max PERIOD" (no limit)."""
    try:
        fields = (root / "cpu.max").read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = float(fields[0]), float(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(root: Path) -> float | None:
    """cgroup v1: a quota of -1 means no limit."""
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota = float((folder / "cpu.cfs_quota_us").read_text().strip())
            period = float((folder / "cpu.cfs_period_us").read_text().strip())
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may keep busy (see the module docstring)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    for quota in (_v2_quota(root), _v1_quota(root)):
        if quota is not None:
            count = min(count, math.ceil(quota))
    return max(1, count)
