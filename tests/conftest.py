"""Shared test helpers: real processes only, and a check that none is left behind."""

from __future__ import annotations

import os
import time

import psutil
import pytest

from gilwise.backends.registry import MODE_SPECS


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


@pytest.fixture
def no_leftover_workers():
    """Fails the test if a worker process outlives it."""
    yield
    assert wait_for_no_workers() == []


# Where a mode must not be skipped (make test-interpreters): its skip becomes a failure.
REQUIRED_MODES = {"interpreters": os.environ.get("GILWISE_REQUIRE_INTERPRETERS") == "1"}


@pytest.fixture(params=[name for name, spec in MODE_SPECS.items() if not spec.cluster])
def mode(request: pytest.FixtureRequest) -> str:
    """Every mode of the registry, for the behaviour all modes share; a mode this Python
    cannot run is skipped with the reason (or fails, where GILWISE_REQUIRE_* asks for it).
    Dask is left out (a cluster per test is too costly): tests/test_dask.py covers it."""
    why = MODE_SPECS[request.param].unavailable()
    if why:
        if REQUIRED_MODES.get(request.param):
            pytest.fail(f"{request.param} is required here, but {why}")
        pytest.skip(why)
    return request.param
