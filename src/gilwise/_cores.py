"""How many cores this process may use: its CPU affinity, and the CPU quota of its cgroup
(a container limited to 2 CPUs on a 64-core host, as Docker and Kubernetes set it, may use 2).

The quota is read from cgroup v2's ``cpu.max`` ("max 100000": none; "200000 100000": two
CPUs) or v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none), in this process's own
cgroup and each one above it: the tightest counts, rounded up to whole CPUs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: where the cgroup file systems are mounted, and where this process's cgroups are named:
#: module attributes, so a test can point them at files of its own
CGROUP_ROOT = "/sys/fs/cgroup"
PROC_CGROUP = "/proc/self/cgroup"
_V1_CONTROLLERS = ("cpu", "cpu,cpuacct", "cpuacct,cpu")


def usable_cores() -> int:
    """Cores this process may run on (affinity), within its cgroup's CPU quota."""
    cores = _affinity()
    quota = cgroup_cpu_limit()
    return max(1, min(cores, quota)) if quota is not None else cores


def _affinity() -> int:
    if hasattr(os, "process_cpu_count"):  # 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def cgroup_cpu_limit() -> int | None:
    """Whole CPUs the tightest cgroup quota over this process allows; None where none is set
    (or no cgroup file system is there)."""
    root = Path(CGROUP_ROOT)
    limits = [quota for folder, v2 in _cgroup_folders(root)
              if (quota := _quota(folder, v2)) is not None]
    return math.ceil(min(limits)) if limits else None


def _cgroup_folders(root: Path) -> list[tuple[Path, bool]]:
    """This process's cgroup folders with a CPU controller, and every one above them, each
    with whether it is cgroup v2's."""
    found: list[tuple[Path, bool]] = []
    for hierarchy, controllers, path in _memberships():
        v2 = hierarchy == "0" and not controllers  # one unified tree
        if v2:
            bases = [root, root / "unified"]
        elif "cpu" in controllers.split(","):
            bases = [root / name for name in _V1_CONTROLLERS]
        else:
            continue
        for base in bases:
            folder = base / path.lstrip("/")
            while True:
                found.append((folder, v2))
                if folder == base:
                    break
                folder = folder.parent
    # no membership known: the namespace's own roots
    return found or [(root, True), (root / "cpu", False)]


def _memberships() -> list[tuple[str, str, str]]:
    """(hierarchy, controllers, path) per line of /proc/self/cgroup."""
    try:
        text = Path(PROC_CGROUP).read_text()
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def _quota(folder: Path, v2: bool) -> float | None:
    """CPUs the quota in ``folder`` allows (a fraction), or None: no quota, or no such file."""
    if v2:
        try:
            fields = (folder / "cpu.max").read_text().split()
        except OSError:
            return None
        return _ratio(fields[0], fields[1]) if len(fields) == 2 else None
    try:
        quota = (folder / "cpu.cfs_quota_us").read_text().strip()
        period = (folder / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return q / p if q > 0 and p > 0 else None
