"""Native thread pools that do not fight: each worker's BLAS/OpenMP limited so that
workers × native threads ≤ cores, the user's own choice kept (read back with threadpoolctl in
the worker itself)."""

from __future__ import annotations

import os

import pytest

import gilwise
from _numeric import native_threads, threads_unknown_to_python
from gilwise._cores import usable_cores
from gilwise.backends._native import ENV_VARS

np = pytest.importorskip("numpy")
threadpoolctl = pytest.importorskip("threadpoolctl")

START_METHODS = ["fork", "forkserver", "spawn"]


@pytest.fixture(autouse=True)
def no_limit_in_the_environment(monkeypatch):
    """OMP_NUM_THREADS and the like, set in the environment, are the user's choice (kept):
    left by an earlier test (a Dask cluster sets them), they would hide what these test."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def pools_of(results: list[dict[str, int]], blas_only: bool = False) -> set[int]:
    """The thread counts every worker's pools reported (``blas_only``: OpenMP's left out, a
    setting of each thread's own that a threads-mode batch cannot set for its workers)."""
    return {threads for pools in results for api, threads in pools.items()
            if not (blas_only and api == "openmp")}


def test_numpy_has_a_native_pool_here():
    assert native_threads(None), "no BLAS/OpenMP pool found: these tests would prove nothing"


@pytest.mark.parametrize("method", START_METHODS)
def test_each_worker_runs_cores_over_workers_native_threads(method):
    results = list(gilwise.map(native_threads, range(4), mode="processes", workers=2,
                               start_method=method, chunksize=1))
    assert pools_of(results) == {max(1, usable_cores() // 2)}


def openblas_can_stop_its_threads() -> bool:
    """Whether every OpenBLAS loaded here exports the function that stops its thread pool
    (scipy-openblas 0.3.31, NumPy 2.4's, does; 0.3.34, NumPy 2.5's, hides it)."""
    import ctypes

    libs = [lib for lib in threadpoolctl.threadpool_info() if lib["internal_api"] == "openblas"]
    return bool(libs) and all(
        hasattr(ctypes.CDLL(lib["filepath"], mode=os.RTLD_NOLOAD), "blas_thread_shutdown_")
        for lib in libs)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux's /proc")
@pytest.mark.skipif(not openblas_can_stop_its_threads(), reason=(
    "this OpenBLAS does not export blas_thread_shutdown_: the thread it restarts when told "
    "the limit after fork spins its ~0.1 s (BENCHMARKS.md, bench_overhead)"))
def test_a_forked_worker_that_never_calls_blas_runs_no_native_thread():
    """Told the limit after fork, OpenBLAS restarts a thread that spins ~0.1 s of a core:
    stopped again, it starts only when a task calls BLAS (as the test above shows it can)."""
    results = list(gilwise.map(threads_unknown_to_python, range(4), mode="processes",
                               workers=2, start_method="fork", chunksize=1))
    assert results == [0, 0, 0, 0]


@pytest.mark.parametrize("method", START_METHODS)
def test_the_users_own_count_is_kept(method):
    # one worker would get every core's worth by default
    results = list(gilwise.map(native_threads, range(2), mode="processes", workers=1,
                               start_method=method, native_threads=1))
    assert pools_of(results) == {1}


def test_keep_leaves_the_pools_as_a_forked_worker_inherits_them():
    with threadpoolctl.threadpool_limits(limits=3):  # the parent's own setting
        results = list(gilwise.map(native_threads, range(2), mode="processes", workers=2,
                                   start_method="fork", native_threads="keep"))
    assert pools_of(results) == {3}


def test_threads_mode_limits_the_process_for_the_batch_and_restores_it():
    before = native_threads(None)
    with threadpoolctl.threadpool_limits(limits=2):
        during = list(gilwise.map(native_threads, range(2), mode="threads", workers=2))
        after = native_threads(None)
    assert pools_of(during, blas_only=True) == {max(1, usable_cores() // 2)}
    assert set(after.values()) == {2}
    assert native_threads(None) == before


def test_bad_native_threads_is_refused_naming_the_option():
    with pytest.raises(ValueError, match="native_threads=0"):
        gilwise.map(abs, [1], native_threads=0)


def test_one_thread_leaves_a_limit_set_before_alone():
    with threadpoolctl.threadpool_limits(limits=1):
        during = list(gilwise.map(native_threads, range(2), mode="threads", workers=1))
    assert pools_of(during, blas_only=True) == {1}


def test_a_count_set_in_the_environment_is_the_users_choice(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    results = list(gilwise.map(native_threads, range(2), mode="processes", workers=1,
                               start_method="spawn"))
    assert pools_of(results) == {1}
