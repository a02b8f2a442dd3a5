"""Finding the worker processes a test started, and waiting for them to be gone."""

from __future__ import annotations

import time

import psutil


def worker_processes() -> list[psutil.Process]:
    """Live gilwise workers started by this test process: its children, and the children of
    multiprocessing's forkserver (used when the parent has threads), not the helpers
    themselves."""
    found = []
    for child in psutil.Process().children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "resource_tracker" in cmdline:
            continue
        found.extend(child.children() if "forkserver" in cmdline else [child])
    alive = []
    for process in found:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.Error:
            continue
    return alive


def wait_for_no_workers(seconds: float = 3.0) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while (left := worker_processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left
