"""Free-threaded CPython (3.13t+, the GIL off): threads run pure Python in parallel.

Skipped with a reason on a build with a GIL, unless GILWISE_REQUIRE_FREE_THREADED=1
(``make test-interpreters``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import sys
import sysconfig

import pytest

import _work
import gilwise

REQUIRED = os.environ.get("GILWISE_REQUIRE_FREE_THREADED") == "1"
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


@pytest.fixture(autouse=True)
def free_threaded():
    """Every test here needs a free-threaded build: a skip, or a failure if required."""
    if not FREE_THREADED:
        why = f"needs a free-threaded build (Py_GIL_DISABLED); this is {sys.version.split()[0]}"
        if REQUIRED:
            pytest.fail(f"GILWISE_REQUIRE_FREE_THREADED=1 but this Python {why}")
        pytest.skip(why)


def test_the_gil_is_off():
    # An extension module not marked free-threading safe, imported by gilwise or its test
    # dependencies, would have turned the GIL back on.
    assert sys._is_gil_enabled() is False


def test_threads_run_pure_python_in_parallel():
    """Told by the threads' CPU clocks: holds while other processes keep the cores busy
    (``tests/test_threadclock.py`` shows the same measure saying no behind a GIL)."""
    parallel, figures = _work.overlap_verdict()
    assert parallel, f"2 threads do not run in parallel ({figures})"


def test_auto_chooses_threads_for_cpu_bound_work_and_says_free_threaded():
    decision = gilwise.explain(_work.spin, [200_000] * 20)  # long enough not to end while measured
    assert decision.mode == "threads", str(decision)
    assert "free-threaded" in decision.reason
