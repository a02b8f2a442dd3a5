"""gilwise as a joblib backend: the same results as joblib's own, scikit-learn's ``n_jobs`` on
it, and a worker crash that costs one batch (retried) where joblib's default loses the call."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

joblib = pytest.importorskip("joblib")
from joblib import Parallel, delayed  # noqa: E402

import gilwise.joblib  # noqa: E402,F401 - registers the backend
from gilwise import WorkerDied  # noqa: E402

MODES = ["threads", "processes", "auto"]


def square(x: int) -> int:
    return x * x


def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def dies_once(x: int, marker: str) -> int:
    """Kills its worker the first time it sees item 5 (the marker says it did)."""
    if x == 5 and not os.path.exists(marker):
        Path(marker).touch()
        os._exit(9)
    return x * 10


def sleep_and_note(x: int, folder: str) -> int:
    Path(folder, f"{os.getpid()}").touch()
    if x == 0:
        time.sleep(0.5)
        raise ValueError("the first task fails")
    time.sleep(60)
    return x


@pytest.mark.parametrize("mode", MODES)
def test_the_same_results_as_joblibs_own_backend(mode):
    calls = [delayed(square)(i) for i in range(50)]
    expected = Parallel(n_jobs=2)(calls)
    with joblib.parallel_config(backend="gilwise", n_jobs=2, mode=mode):
        assert Parallel()(calls) == expected
        assert list(Parallel(return_as="generator")(calls)) == expected
        unordered = Parallel(return_as="generator_unordered")(calls)
        assert sorted(unordered) == sorted(expected)
        with pytest.raises(ValueError, match="three"):
            Parallel()(delayed(fails_on_three)(i) for i in range(10))
        assert Parallel()(calls) == expected  # usable after a failed call


def test_scikit_learns_n_jobs_runs_on_it():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    assert sklearn
    X, y = make_classification(n_samples=300, n_features=10, random_state=0)
    model = LogisticRegression(max_iter=200)
    expected = cross_val_score(model, X, y, cv=5, n_jobs=1)
    with joblib.parallel_config(backend="gilwise", mode="processes"):
        scores = cross_val_score(model, X, y, cv=5, n_jobs=2)
    assert list(scores) == list(expected)


def test_a_dead_worker_costs_one_batch_retried_where_joblibs_default_loses_the_call(tmp_path):
    calls = [delayed(dies_once)(i, str(tmp_path / "died")) for i in range(10)]
    with pytest.raises(joblib.externals.loky.process_executor.TerminatedWorkerError):
        Parallel(n_jobs=2)(calls)
    (tmp_path / "died").unlink()
    with joblib.parallel_config(backend="gilwise", n_jobs=2, mode="processes", retries=1):
        assert Parallel(batch_size=1)(calls) == [i * 10 for i in range(10)]
    assert (tmp_path / "died").exists()  # the worker did die, once
    (tmp_path / "died").unlink()
    with joblib.parallel_config(backend="gilwise", n_jobs=2, mode="processes"), \
            pytest.raises(WorkerDied):  # without retries: that batch fails, named
        Parallel(batch_size=1)(calls)


def test_a_failed_call_stops_the_tasks_still_running(tmp_path):
    """joblib's abort_everything: the other tasks (60 s each) are stopped with their workers,
    not left to run on."""
    psutil = pytest.importorskip("psutil")
    with joblib.parallel_config(backend="gilwise", n_jobs=2, mode="processes"), \
            pytest.raises(ValueError, match="first task fails"):
        Parallel(batch_size=1)(delayed(sleep_and_note)(i, str(tmp_path)) for i in range(4))
    pids = [int(p.name) for p in tmp_path.iterdir()]
    assert pids
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if psutil.pid_exists(pid)]


def test_an_option_it_does_not_take_is_refused_by_name():
    with pytest.raises(TypeError, match="retrys"), \
            joblib.parallel_config(backend="gilwise", retrys=1):
        Parallel(n_jobs=2)(delayed(square)(i) for i in range(3))
