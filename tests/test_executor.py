"""``gilwise.Executor``: a drop-in ``concurrent.futures.Executor`` whose futures survive their
workers. CPython's own tests for executors run against it in tests/conformance (3.14)."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import ctypes
import itertools
import os
import sys
import threading
import time

import pytest

import gilwise

MODES = ["threads", "processes"]


def square(x: int) -> int:
    return x * x


def crash(how: str) -> None:
    if how == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    os._exit(3)


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def count_up(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def fails_the_first_time(marker: str) -> str:
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError("not yet")
    return "ok"


def wait_for(path: str) -> str:
    while not os.path.exists(path):
        time.sleep(0.01)
    return path


def length(items: list[int]) -> int:
    return len(items)


def fail_init() -> None:
    raise RuntimeError("no model here")


@pytest.mark.parametrize("mode", MODES)
def test_submit_and_map_give_what_the_stdlib_executors_give(mode):
    with gilwise.Executor(2, mode=mode) as executor:
        assert executor.submit(pow, 2, 8).result() == 256
        assert list(executor.map(pow, range(10), range(10))) == list(map(pow, range(10),
                                                                         range(10)))
        assert list(executor.map(square, range(25), chunksize=4)) == [i * i for i in range(25)]
        with pytest.raises(ZeroDivisionError):
            executor.submit(divmod, 1, 0).result()


@pytest.mark.parametrize("how", ["segfault", "exit"])
def test_a_dying_worker_fails_only_its_future_and_the_executor_goes_on(how):
    with gilwise.Executor(2, mode="processes") as executor:
        before = [executor.submit(square, i) for i in range(4)]
        dead = executor.submit(crash, how)
        after = [executor.submit(square, i) for i in range(4, 8)]
        with pytest.raises(gilwise.WorkerDied):
            dead.result(timeout=60)
        assert [f.result(timeout=60) for f in before + after] == [i * i for i in range(8)]
        assert executor.submit(square, 9).result(timeout=60) == 81  # still accepting work


def test_a_hung_call_is_stopped_by_the_timeout_and_only_it_fails():
    with gilwise.Executor(2, mode="processes", timeout=1.0) as executor:
        hung = executor.submit(nap, 600)
        quick = [executor.submit(square, i) for i in range(20)]
        with pytest.raises(gilwise.TaskTimeout):
            hung.result(timeout=120)
        assert [f.result(timeout=60) for f in quick] == [i * i for i in range(20)]


@pytest.mark.parametrize("mode", MODES)
def test_a_call_that_failed_is_retried_and_its_future_gets_the_value(mode, tmp_path, caplog):
    with gilwise.Executor(2, mode=mode, retries=1, backoff=0) as ex:
        future = ex.submit(fails_the_first_time, str(tmp_path / "tried"))
        assert future.result(timeout=60) == "ok"
    assert "unexpected state" not in caplog.text  # the retry did not start its future again


def test_a_big_argument_never_holds_up_the_results_of_other_calls(tmp_path):
    """A worker reads its pipe only between calls: a big argument (MBs, more than a pipe
    holds) waits for a worker with nothing to do rather than being written behind a running
    call, which would block the executor until that call ends."""
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    with gilwise.Executor(2, mode="processes") as ex:
        assert list(ex.map(square, range(20))) == [x * x for x in range(20)]  # both quick
        held = ex.submit(wait_for, first)
        other = ex.submit(wait_for, second)
        big = ex.submit(length, list(range(1_000_000)))  # ~5 MB pickled
        time.sleep(0.5)  # the executor places it meanwhile
        open(second, "w").close()
        assert other.result(timeout=30) == second  # not stuck behind the big write
        assert big.result(timeout=30) == 1_000_000
        open(first, "w").close()
        assert held.result(timeout=30) == first


@pytest.mark.parametrize("mode", MODES)
def test_run_in_executor_from_a_running_loop(mode):
    async def main(executor: gilwise.Executor) -> list[int]:
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(executor, square, i)
                                      for i in range(10)))

    with gilwise.Executor(2, mode=mode) as executor:
        assert asyncio.run(main(executor)) == [i * i for i in range(10)]


def test_as_completed_over_ten_thousand_futures():
    with gilwise.Executor(4, mode="threads") as executor:
        futures = [executor.submit(square, i) for i in range(10_000)]
        done = list(cf.as_completed(futures, timeout=120))
    assert len(done) == 10_000 and set(done) == set(futures)
    assert sorted(f.result() for f in done) == sorted(i * i for i in range(10_000))


@pytest.mark.parametrize("mode", MODES)
def test_shutdown_cancel_futures_cancels_what_has_not_started(mode):
    executor = gilwise.Executor(1, mode=mode)
    futures = [executor.submit(nap, 0.05) for _ in range(40)]
    executor.shutdown(wait=True, cancel_futures=True)
    cancelled = [f for f in futures if f.cancelled()]
    ran = [f for f in futures if not f.cancelled()]
    assert len(cancelled) > 20 and ran and all(f.result() == 0.05 for f in ran)
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(square, 1)


def test_a_cancelled_future_never_runs():
    started = threading.Event()
    release = threading.Event()
    with gilwise.Executor(1, mode="threads") as executor:
        executor.submit(lambda: (started.set(), release.wait(30)))
        assert started.wait(30)
        queued = [executor.submit(square, i) for i in range(5)]
        assert all(f.cancel() for f in queued)  # not started: they can be cancelled
        release.set()
    assert all(f.cancelled() for f in queued)


def test_map_with_buffersize_reads_an_endless_generator_lazily():
    taken = itertools.count()

    def endless():
        while True:
            yield next(taken)

    with gilwise.Executor(2, mode="threads") as executor:
        results = executor.map(square, endless(), buffersize=8)
        assert [next(results) for _ in range(100)] == [i * i for i in range(100)]
        assert next(taken) <= 100 + 8 + 1  # read no further than the buffer ahead


def test_a_failing_initializer_breaks_the_executor_as_the_stdlib_does():
    executor = gilwise.Executor(2, mode="processes", initializer=fail_init)
    future = executor.submit(square, 3)
    with pytest.raises(cf.BrokenExecutor, match="no model here"):
        future.result(timeout=60)
    with pytest.raises(cf.BrokenExecutor):
        executor.submit(square, 4)
    executor.shutdown()


def test_auto_decides_per_function_from_its_first_call_and_says_why():
    with gilwise.Executor(2) as executor:  # mode="auto"
        assert executor.submit(nap, 0.05).result() == 0.05
        assert executor.submit(count_up, 3_000_000).result() == sum(range(3_000_000))
        assert [f.result() for f in [executor.submit(square, i) for i in range(5)]] == [
            0, 1, 4, 9, 16]
        chosen = executor.explain()
    assert chosen["nap"].mode == "threads" and "waiting" in chosen["nap"].reason
    assert chosen["square"].mode == "threads" and "too short" in chosen["square"].reason
    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    if gilwise.usable_cores() >= 2 and gil:
        assert chosen["count_up"].mode == "processes", chosen["count_up"].reason
        assert "CPU-bound" in chosen["count_up"].reason
    else:  # one core, or a free-threaded build: threads run it in parallel already
        assert chosen["count_up"].mode == "threads", chosen["count_up"].reason


def test_the_executor_is_a_concurrent_futures_executor():
    assert issubclass(gilwise.Executor, cf.Executor)
    with pytest.raises(ValueError):
        gilwise.Executor(0)


def test_in_threads_a_call_is_settled_by_the_worker_that_ran_it():
    """As with ThreadPoolExecutor, a done-callback runs in the worker thread that ran the
    call, not after a hand-over to the lane's driver (one thread hop less per call)."""
    seen: list[str] = []
    callback_added = threading.Event()

    def name_once_watched() -> str:
        callback_added.wait()
        return threading.current_thread().name

    with gilwise.Executor(max_workers=2, mode="threads") as executor:
        ran_in = executor.submit(name_once_watched)
        ran_in.add_done_callback(lambda _: seen.append(threading.current_thread().name))
        callback_added.set()
        worker = ran_in.result()
        while not seen:
            time.sleep(0.001)
    assert seen == [worker] and "driver" not in seen[0]


def test_in_threads_a_call_taken_ahead_and_cancelled_before_it_starts_never_runs():
    """A threads lane takes calls ahead in chunks (one hand-over for many quick calls); as
    with ThreadPoolExecutor, the worker marks each running as it starts it, so one cancelled
    while it waited in its chunk is skipped."""
    from gilwise._lane import _Call, _invoke

    ran: list[int] = []
    waiting, started = cf.Future(), cf.Future()
    assert waiting.cancel()
    assert _invoke(_Call(ran.append, (1,), {}, future=waiting)) is None
    _invoke(_Call(ran.append, (2,), {}, future=started))
    assert ran == [2] and started.done() and waiting.cancelled()


def test_in_threads_a_round_trip_does_not_wake_the_lanes_driver():
    """``submit`` sends a call to a worker from the caller's thread and the worker settles
    it: the driver sleeps through one-at-a-time round trips (a thread hand-over less)."""
    with gilwise.Executor(2, mode="threads") as executor:
        executor.submit(square, 1).result()
        lane = executor._lanes["threads"]
        backend = lane._shared.backend
        waits = itertools.count()
        wait = backend.wait

        def counted(timeout: float) -> None:
            next(waits)
            wait(timeout)

        backend.wait = counted
        assert [executor.submit(square, i).result() for i in range(300)] == [
            i * i for i in range(300)]
        woken = next(waits)
    assert woken < 30  # a driver woken per call would wait 300 times
