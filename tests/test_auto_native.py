"""Auto sees work already parallel in native code (a BLAS call on every core): it gives each
worker a share of the cores for its native threads, and says so."""

from __future__ import annotations

import pytest

import gilwise
from _numeric import native_threads, svd
from gilwise._cores import usable_cores
from gilwise.backends._native import ENV_VARS

np = pytest.importorskip("numpy")
threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture
def blas_on_every_core(monkeypatch):
    for var in ENV_VARS:  # the user's choice if set (an earlier test's Dask cluster sets them)
        monkeypatch.delenv(var, raising=False)
    cores = usable_cores()
    if cores < 2:
        pytest.skip("one usable core: nothing runs in parallel in native code")
    with threadpoolctl.threadpool_limits(limits=cores):
        if max(native_threads(None).values()) < 2:
            pytest.skip("NumPy's BLAS here runs one thread")
        yield cores


def test_auto_on_an_svd_batch_names_native_threads_and_does_not_fight(blas_on_every_core):
    rng = np.random.default_rng(0)
    matrices = [rng.standard_normal((300, 300)) for _ in range(32)]
    result = gilwise.map(svd, matrices)
    values = list(result)
    for got, matrix in zip(values, matrices):
        np.testing.assert_allclose(got, svd(matrix))
    info = result.info
    assert "already parallel in native code" in info.reason, (info.reason, info.figures)
    assert info.figures["native_cores"] > 1.3
    assert info.mode in ("threads", "processes")
    # the workers' native threads together within the cores
    assert info.workers * max(1, blas_on_every_core // info.workers) <= blas_on_every_core


def test_explain_says_so_too(blas_on_every_core):
    rng = np.random.default_rng(1)
    # enough items that the probe cannot run them all while it measures (then: "a small
    # batch"); explain runs only the probe's
    decision = gilwise.explain(svd, [rng.standard_normal((300, 300)) for _ in range(64)])
    assert "native threads" in decision.reason


def test_keep_runs_one_thread_as_the_caller_would(blas_on_every_core):
    rng = np.random.default_rng(2)
    matrices = [rng.standard_normal((300, 300)) for _ in range(16)]
    result = gilwise.map(svd, matrices, native_threads="keep")
    list(result)
    assert "native_threads='keep'" in result.info.reason
    assert result.info.workers == 1
