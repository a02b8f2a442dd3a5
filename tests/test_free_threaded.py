"""Free-threaded CPython (3.13t+, the GIL off): threads run pure Python in parallel.

Skipped with a reason on a build with a GIL, unless GILWISE_REQUIRE_FREE_THREADED=1
(``make test-interpreters``), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig

import pytest

import _work

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
    """In a fresh interpreter: a thread left computing by an earlier test of this process
    would count as the work's own native threads (auto would say "already parallel in
    native code", still choosing threads)."""
    code = ("import _work, gilwise; d = gilwise.explain(_work.spin, [200_000] * 20); "
            "print(d.mode); print(d.reason)")  # long enough not to end while measured
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=300, check=True).stdout
    mode, reason = out.strip().split("\n", 1)
    assert mode == "threads", out
    assert "free-threaded" in reason, out
