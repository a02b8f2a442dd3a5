"""How many cores this process may use: its CPU affinity, and the CPU quota of its cgroup
(a container limited to 2 CPUs on a 64-core host, as Docker and Kubernetes set it, may use 2).

The quota is read from cgroup v2's ``cpu.max`` ("max 100000": none; "200000 100000": two
CPUs) or v1's ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (-1: none), in this process's own
cgroup and each one above it: the tightest counts, rounded up to whole CPUs.
"""

from __future__ import annotations

import math
import os

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
    limits = [quota for folder, v2 in _cgroup_folders(CGROUP_ROOT)
              if (quota := _quota(folder, v2)) is not None]
    return math.ceil(min(limits)) if limits else None


def _cgroup_folders(root: str) -> list[tuple[str, bool]]:
    """This process's cgroup folders with a CPU controller, and every one above them, each
    with whether it is cgroup v2's."""
    found: list[tuple[str, bool]] = []
    for hierarchy, controllers, path in _memberships():
        v2 = hierarchy == "0" and not controllers  # one unified tree
        if v2:
            bases = [root, os.path.join(root, "unified")]
        elif "cpu" in controllers.split(","):
            bases = [os.path.join(root, name) for name in _V1_CONTROLLERS]
        else:
            continue
        for base in bases:
            folder = os.path.normpath(os.path.join(base, path.lstrip("/")))
            while True:
                found.append((folder, v2))
                if folder == base or len(folder) <= len(base):
                    break
                folder = os.path.dirname(folder)
    # no membership known: the namespace's own roots
    return found or [(root, True), (os.path.join(root, "cpu"), False)]


def _memberships() -> list[tuple[str, str, str]]:
    """(hierarchy, controllers, path) per line of /proc/self/cgroup."""
    try:
        text = _read(PROC_CGROUP)
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    return rows


def _quota(folder: str, v2: bool) -> float | None:
    """CPUs the quota in ``folder`` allows (a fraction), or None: no quota, or no such file."""
    if v2:
        try:
            fields = _read(os.path.join(folder, "cpu.max")).split()
        except OSError:
            return None
        return _ratio(fields[0], fields[1]) if len(fields) == 2 else None
    try:
        quota = _read(os.path.join(folder, "cpu.cfs_quota_us")).strip()
        period = _read(os.path.join(folder, "cpu.cfs_period_us")).strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return q / p if q > 0 and p > 0 else None
