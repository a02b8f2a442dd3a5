"""Shared fixtures: every mode of the registry, and a check that no worker is left behind."""

from __future__ import annotations

import os
import signal

import pytest

from _workers import wait_for_no_workers
from gilwise.backends.registry import MODE_SPECS

# A background job of a non-interactive shell (as CI may be) starts with SIGINT ignored, and
# its children would inherit that across exec: the tests that Ctrl-C a child need its default.
# Set here once, not per child with preexec_fn, which crashes the forked child (SIGSEGV, on
# 3.14) once this process has run sub-interpreters.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
