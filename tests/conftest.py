"""Shared test helpers: real processes only, and a check that none is left behind."""

from __future__ import annotations

import time

import psutil
import pytest


def worker_processes() -> list[psutil.Process]:
    """Live child processes of this test process that are gilwise workers."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if "forkserver" in cmdline or "resource_tracker" in cmdline:
            continue
        found.append(child)
    return found


def wait_for_no_workers(seconds: float = 3.0) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while (left := worker_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


@pytest.fixture
def no_leftover_workers():
    """Fails the test if a worker process outlives it."""
    yield
    assert wait_for_no_workers() == []
