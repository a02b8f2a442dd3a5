"""``gilwise.Executor``'s parts of the stdlib executors' API beyond ``submit``/``map``/
``shutdown``: 3.14's ``terminate_workers``/``kill_workers``, ``_max_workers``, and a call that
cannot be pickled raising a ``pickle.PicklingError``."""

from __future__ import annotations

import os
import pickle
import re
import threading
import time

import pytest

import gilwise


def _interpreters() -> str | None:
    from gilwise.backends.interpreters import check_available

    try:
        check_available()
    except gilwise.GilwiseError as exc:
        return str(exc)
    return None


NO_INTERPRETERS = pytest.mark.skipif(_interpreters() is not None, reason=str(_interpreters()))
INTERPRETERS = pytest.param("interpreters", marks=NO_INTERPRETERS)


def hold(path: str, seconds: float) -> int:
    """Say it started (its pid in ``path``), then take ``seconds``."""
    with open(path + ".tmp", "w") as out:
        out.write(str(os.getpid()))
    os.replace(path + ".tmp", path)
    time.sleep(seconds)
    return os.getpid()


def square(x: int) -> int:
    return x * x


def a_lock() -> object:
    return threading.Lock()


def _started(path: str) -> int:
    for _ in range(6000):  # a busy machine may take a while to start the worker
        if os.path.exists(path):
            with open(path) as given:
                return int(given.read())
        time.sleep(0.01)
    raise AssertionError("the call never started")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("how", ["terminate_workers", "kill_workers"])
@pytest.mark.parametrize("mode", ["processes", "threads", INTERPRETERS])
def test_terminate_and_kill_workers_stop_the_executor_now(mode, how, tmp_path):
    """Processes: the running call's worker is signalled and its future fails with
    WorkerDied; threads and sub-interpreters cannot be stopped, so their running call ends
    as it would. Either way the calls queued are cancelled and no new call is taken."""
    path = str(tmp_path / "started")
    processes = mode == "processes"
    executor = gilwise.Executor(1, mode=mode)
    running = executor.submit(hold, path, 600 if processes else 0.5)
    pid = _started(path)
    queued = [executor.submit(square, i) for i in range(6)]
    getattr(executor, how)()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(square, 1)
    if processes:
        with pytest.raises(gilwise.WorkerDied):
            running.result(timeout=120)
    else:
        assert running.result(timeout=120) == os.getpid()  # it ran to its end, here
    for i, future in enumerate(queued):  # one may have been taken already, as it ran
        if not future.cancelled():
            if processes:
                assert isinstance(future.exception(timeout=120), gilwise.WorkerDied)
            else:
                assert future.result(timeout=120) == i * i
    assert sum(f.cancelled() for f in queued) >= 4
    executor.shutdown(wait=True)
    if processes:
        assert pid != os.getpid() and _gone(pid)
    getattr(executor, how)()  # again: nothing left to stop, and no error


@pytest.mark.parametrize("how", ["terminate_workers", "kill_workers"])
def test_terminate_and_kill_workers_before_any_call_only_shut_down(how):
    executor = gilwise.Executor(1, mode="processes")
    getattr(executor, how)()
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(square, 1)
    with pytest.raises(ValueError, match="Unsupported operation"):
        executor._force_shutdown(operation="stop")  # the stdlib's name; its tests call it


CORES = gilwise.usable_cores()


@pytest.mark.parametrize(("mode", "default"), [
    ("threads", min(32, CORES + 4)), ("processes", CORES),
    pytest.param("interpreters", CORES, marks=NO_INTERPRETERS), ("auto", CORES)])
def test_max_workers_says_how_many_workers_each_lane_starts(mode, default):
    """As the stdlib executors' ``_max_workers``: the number asked for, else the mode's
    default (auto: one per core, what its CPU-bound functions get)."""
    for asked, expected in ((None, default), (3, 3)):
        executor = gilwise.Executor(asked, mode=mode)
        assert executor.max_workers == executor._max_workers == expected
        with pytest.raises(AttributeError):
            executor.max_workers = 5  # type: ignore[misc]
        executor.shutdown()


def test_a_call_that_cannot_be_pickled_raises_a_pickling_error_as_the_stdlibs_does():
    """``except pickle.PicklingError`` catches it, as with ProcessPoolExecutor, and it is
    gilwise's PayloadError, whose message says what could not travel."""
    with gilwise.Executor(1, mode="processes") as executor:
        with pytest.raises(pickle.PicklingError, match="the argument could not be pickled"):
            executor.submit(id, threading.Lock()).result(timeout=60)
        with pytest.raises(gilwise.PayloadError, match="the result could not be pickled"):
            executor.submit(a_lock).result(timeout=60)
        assert executor.submit(square, 7).result(timeout=60) == 49  # it goes on
    failure, = gilwise.map(id, [threading.Lock()], mode="processes", on_error="return")
    assert failure.exc_type == "PayloadError"  # gilwise.map's Failure says so, as before
    assert isinstance(failure.exception, pickle.PicklingError)


def test_killing_a_worker_through_the_stdlibs_processes_fails_only_its_call(tmp_path):
    """Code written against ProcessPoolExecutor kills a hung worker through ``_processes``
    (pid -> its multiprocessing Process): only the call it ran fails, with WorkerDied, and the
    executor goes on. ``_mp_context`` and ``_executor_manager_thread`` are there too."""
    import multiprocessing
    import signal

    context = multiprocessing.get_context("forkserver")
    executor = gilwise.Executor(2, mode="processes", mp_context=context)
    assert executor._executor_manager_thread is None and executor._mp_context is context
    with executor:
        running = executor.submit(hold, str(tmp_path / "started"), 600)
        pid = _started(str(tmp_path / "started"))
        processes = executor._processes
        assert len(processes) == 2 and all(p.pid == key and p.is_alive()
                                          for key, p in processes.items())
        processes[pid].kill()
        processes[pid].join(60)
        # its status is read once, by this join or gilwise's (forkserver: the other then
        # reads 255): dead is what counts
        assert not processes[pid].is_alive() and processes[pid].exitcode in (-signal.SIGKILL,
                                                                              255)
        with pytest.raises(gilwise.WorkerDied):
            running.result(timeout=120)
        assert executor.submit(square, 7).result(timeout=60) == 49
        assert pid not in executor._processes and len(executor._processes) == 2
        manager = executor._executor_manager_thread
        assert manager is not None and manager.is_alive()
    manager.join(60)
    assert not manager.is_alive()


@pytest.mark.parametrize("prefix", ["", "Special"])
@pytest.mark.parametrize("mode", ["threads", INTERPRETERS])
def test_threads_are_the_running_worker_threads_named_as_threadpoolexecutors(mode, prefix):
    """``_threads`` (ThreadPoolExecutor's): the worker threads started, named
    ``{thread_name_prefix}_{n}`` (by default ``ThreadPoolExecutor-{k}_{n}``); after a
    shutdown, joining them returns."""
    executor = gilwise.Executor(3, mode=mode, thread_name_prefix=prefix)
    assert executor._threads == set()
    calls = [executor.submit(time.sleep, 0.5) for _ in range(2)]
    threads = executor._threads
    # a sub-interpreter's thread starts with the lane, a thread with its first call
    assert len(threads) == (3 if mode == "interpreters" else 2)
    assert all(t.is_alive() for t in threads)
    pattern = r"^Special_[0-2]$" if prefix else r"^ThreadPoolExecutor-\d+_[0-2]$"
    assert all(re.match(pattern, t.name) for t in threads), [t.name for t in threads]
    assert [c.result(timeout=60) for c in calls] == [None, None]
    executor.shutdown(wait=True)
    for t in threads:
        t.join(60)
        assert not t.is_alive()


@pytest.mark.parametrize("mode", ["auto", "threads", "processes", INTERPRETERS])
def test_an_executor_dropped_without_shutdown_runs_its_calls_then_stops_its_workers(mode):
    """As the stdlib's: the executor is collected (its lanes hold it only weakly; auto mode
    keeps it until its first call has decided where the others go), the calls it was given
    still end, then its threads and processes stop."""
    import gc
    import weakref

    ex = gilwise.Executor(2, mode=mode)
    futures = [ex.submit(square, i) for i in range(20)]
    mapped = ex.map(square, range(10))  # its results do not keep the executor alive
    threads = [lane.thread for lane in ex._lanes.values()] + list(ex._threads)
    processes = list(ex._processes.values())
    dropped = weakref.ref(ex)
    del ex
    assert [f.result(timeout=60) for f in futures] == [i * i for i in range(20)]
    gc.collect()
    assert dropped() is None
    assert list(mapped) == [i * i for i in range(10)]
    for worker in threads + processes:
        worker.join(60)
        assert not worker.is_alive(), worker
