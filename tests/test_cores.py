"""The usable cores respect a cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``) as
well as affinity: the reader is pointed at cgroup files written by the test."""

from __future__ import annotations

import os

import pytest

from gilwise import _cores
from gilwise._options import Options
from gilwise.backends.registry import worker_count


@pytest.fixture
def cgroup(tmp_path, monkeypatch):
    """A cgroup file system of the test's own; returns a writer of its files."""
    monkeypatch.setattr(_cores, "CGROUP_ROOT", str(tmp_path / "cgroup"))
    membership = tmp_path / "membership"
    monkeypatch.setattr(_cores, "PROC_CGROUP", str(membership))
    membership.write_text("0::/\n")

    def write(path: str, text: str) -> None:
        file = tmp_path / "cgroup" / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)

    write.membership = membership  # type: ignore[attr-defined]
    return write


def affinity() -> int:
    return _cores._affinity()


@pytest.mark.parametrize(("cpu_max", "limit"), [
    ("max 100000\n", None),
    ("200000 100000\n", 2),
    ("150000 100000\n", 2),  # a CPU and a half: rounded up
    ("50000 100000\n", 1),
])
def test_cgroup_v2_cpu_max_is_read(cgroup, cpu_max, limit):
    cgroup("cpu.max", cpu_max)
    assert _cores.cgroup_cpu_limit() == limit


def test_a_quota_of_one_cpu_gives_one_worker(cgroup):
    cgroup("cpu.max", "100000 100000\n")
    assert _cores.usable_cores() == 1
    assert worker_count(Options(mode="processes")) == 1


def test_no_quota_leaves_the_affinity(cgroup):
    cgroup("cpu.max", "max 100000\n")
    assert _cores.usable_cores() == affinity()


def test_a_quota_above_the_affinity_leaves_the_affinity(cgroup):
    cgroup("cpu.max", f"{(affinity() + 8) * 100000} 100000\n")
    assert _cores.usable_cores() == affinity()


def test_the_tightest_quota_of_the_process_cgroup_and_those_above_it_counts(cgroup):
    cgroup.membership.write_text("0::/kubepods/pod1/container\n")
    cgroup("cpu.max", "max 100000\n")
    cgroup("kubepods/pod1/cpu.max", "300000 100000\n")
    cgroup("kubepods/pod1/container/cpu.max", "max 100000\n")
    assert _cores.cgroup_cpu_limit() == 3


@pytest.mark.parametrize(("quota", "limit"), [("-1", None), ("200000", 2), ("50000", 1)])
def test_cgroup_v1_cfs_quota_is_read(cgroup, quota, limit):
    cgroup.membership.write_text("5:cpuacct,cpu:/docker/abc\n4:memory:/docker/abc\n")
    cgroup("cpuacct,cpu/docker/abc/cpu.cfs_quota_us", f"{quota}\n")
    cgroup("cpuacct,cpu/docker/abc/cpu.cfs_period_us", "100000\n")
    assert _cores.cgroup_cpu_limit() == limit


def test_unreadable_or_odd_cgroup_files_are_no_quota(cgroup):
    cgroup("cpu.max", "nonsense\n")
    assert _cores.cgroup_cpu_limit() is None
    os.remove(cgroup.membership)
    assert _cores.usable_cores() == affinity()
