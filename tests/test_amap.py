"""gilwise from inside an event loop: ``amap`` (an async iterator over a batch), ``arun`` (one
call), and the warning the blocking ``map`` gives inside a running loop. Real event loops,
real workers, in every mode (tests/conftest.py's ``mode``)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import warnings

import pytest

import gilwise
import gilwise._api
from _work import Boom, fail_on_seven, sleep_then_return, spin, square
from _workers import wait_for_no_workers


def run(coro):
    return asyncio.run(coro)


def amap_threads() -> list[threading.Thread]:
    """Worker and driver threads of amap batches still alive."""
    return [t for t in threading.enumerate()
            if t.name.startswith(("gilwise-thread-", "gilwise-interpreter-", "gilwise-amap"))]


def workers_left(mode: str) -> list:
    """Workers of ``mode`` (and amap's driver threads) still alive after a short wait."""
    deadline = time.monotonic() + 5.0
    while amap_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    return amap_threads() + (wait_for_no_workers() if mode == "processes" else [])


async def numbers(n: int, read: list[int] | None = None):
    """An async iterable of 0..n-1, counting what was read in ``read``."""
    for i in range(n):
        if read is not None:
            read.append(i)
        if i % 10 == 0:
            await asyncio.sleep(0)
        yield i


async def collect(results) -> list:
    return [value async for value in results]


# -- results
def test_results_in_order_and_unordered(mode):
    async def main():
        ordered = await collect(gilwise.amap(square, range(200), mode=mode, workers=2))
        unordered = await collect(gilwise.amap(square, range(200), mode=mode, workers=2,
                                               ordered=False))
        return ordered, unordered

    ordered, unordered = run(main())
    assert ordered == [i * i for i in range(200)]
    assert sorted(unordered) == ordered


def test_auto_mode_chooses_and_says_why():
    async def main():
        results = gilwise.amap(square, range(50))
        return await collect(results), results.info

    values, info = run(main())
    assert values == [i * i for i in range(50)]
    assert info.mode in ("threads", "processes") and info.reason


def test_the_tasks_own_exception_is_raised_after_the_values_before_it(mode):
    async def main():
        seen = []
        with pytest.raises(Boom, match="seven is bad"):
            async for value in gilwise.amap(fail_on_seven, range(20), mode=mode, workers=2,
                                            chunksize=1):
                seen.append(value)
        return seen

    assert run(main()) == list(range(7))
    assert workers_left(mode) == []


def test_on_error_skip_and_return(mode):
    async def main():
        skipped = await collect(gilwise.amap(fail_on_seven, range(10), mode=mode,
                                             on_error="skip"))
        returned = await collect(gilwise.amap(fail_on_seven, range(10), mode=mode,
                                              on_error="return"))
        return skipped, returned

    skipped, returned = run(main())
    assert skipped == [i for i in range(10) if i != 7]
    assert isinstance(returned[7], gilwise.Failure) and returned[7].exc_type.endswith("Boom")


def test_dask_mode_runs_a_batch_and_raises_the_tasks_exception():
    distributed = pytest.importorskip(
        "distributed", reason="Dask distributed is not installed (pip install 'gilwise[dask]')")

    async def main(client):
        values = await collect(gilwise.amap(square, range(30), mode="dask", client=client))
        seen = []
        with pytest.raises(Boom):
            async for value in gilwise.amap(fail_on_seven, range(20), mode="dask",
                                            client=client, chunksize=1):
                seen.append(value)
        return values, seen

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        values, seen = run(main(client))
    # closing the client this test made started Dask's offload thread: ended, so that the
    # tests after this one fork from a process with one thread, as a user's script would
    from gilwise.backends.dask import _stop_dask_threads

    _stop_dask_threads()
    assert values == [i * i for i in range(30)]
    assert seen == list(range(7))


# -- async iterables
def test_an_async_iterable_is_mapped_in_order(mode):
    async def main():
        return await collect(gilwise.amap(square, numbers(300), mode=mode, workers=2))

    assert run(main()) == [i * i for i in range(300)]


def test_an_async_iterable_is_not_read_far_ahead_of_the_reader():
    read: list[int] = []

    async def main():
        results = gilwise.amap(square, numbers(100_000, read), mode="threads", workers=2,
                               max_in_flight=16)
        first = await results.__anext__()
        await asyncio.sleep(0.5)  # time enough for a greedy reader to read it all
        await results.aclose()
        return first

    assert run(main()) == 0
    assert 0 < len(read) < 5_000
    assert workers_left("threads") == []


def test_a_slow_reader_holds_the_batch_back_rather_than_filling_memory():
    read: list[int] = []

    def counted(n: int):
        for i in range(n):
            read.append(i)
            yield i

    async def main():
        results = gilwise.amap(square, counted(1_000_000), mode="threads", workers=2,
                               max_in_flight=64)
        async with results:
            first = await results.__anext__()
            await asyncio.sleep(0.5)  # time enough to run a great many more
        return first

    assert run(main()) == 0
    assert 0 < len(read) < 5_000


def test_an_async_iterables_error_is_raised_after_what_it_gave():
    async def broken():
        yield 1
        yield 2
        raise OSError("the stream broke")

    async def main():
        seen = []
        with pytest.raises(OSError, match="the stream broke"):
            async for value in gilwise.amap(square, broken(), mode="threads"):
                seen.append(value)
        return seen

    assert run(main()) == [1, 4]


def test_an_async_iterable_or_frontier_in_auto_mode_is_refused_with_one_line():
    with pytest.raises(ValueError, match="an async iterable needs a mode"):
        gilwise.amap(square, numbers(3))
    with pytest.raises(ValueError, match="a Frontier needs a mode"):
        gilwise.amap(square, gilwise.Frontier([1]))
    with pytest.raises(TypeError, match="items=3 is neither iterable nor async iterable"):
        gilwise.amap(square, 3)  # type: ignore[arg-type]


def test_a_frontier_grows_from_the_results_read_in_the_loop():
    async def main():
        frontier = gilwise.Frontier([1], unique=True)
        seen = []
        async for value in gilwise.amap(square, frontier, mode="threads", ordered=False):
            seen.append(value)
            if value < 10_000:
                frontier.add(value + 1)
        return sorted(seen)

    assert run(main()) == [1, 4, 25, 676, 458329]


# -- stopping early
def test_cancelling_the_reader_stops_the_batch_and_its_workers(mode):
    async def main():
        got = []

        async def reader():
            async for value in gilwise.amap(sleep_then_return, [0.01] + [1.0] * 20, mode=mode,
                                            workers=2, chunksize=1):
                got.append(value)

        task = asyncio.create_task(reader())
        while not got:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the loop runs on: the batch stopped because its reader was cancelled
        # (processes are killed at once; a thread cannot be: it ends its item, then exits)
        return got, await asyncio.to_thread(workers_left, mode)

    assert run(main()) == ([0.01], [])


def test_breaking_out_stops_the_batch_and_its_workers(mode):
    async def main():
        async for value in gilwise.amap(square, range(100_000), mode=mode, workers=2):
            if value >= 100:
                break
        return await asyncio.to_thread(workers_left, mode)  # the loop runs on meanwhile

    assert run(main()) == []


def test_aclose_returns_once_the_workers_are_stopped():
    async def main():
        results = gilwise.amap(sleep_then_return, [0.01] + [5.0] * 4, mode="processes",
                               workers=2, chunksize=1)
        async with results:
            assert await results.__anext__() == 0.01
        return results.info._ended, results.info.stopped_early  # the run closed by now

    assert run(main()) == (True, True)
    assert wait_for_no_workers() == []


# -- the caller's loop runs on
def test_a_heartbeat_in_the_same_loop_ticks_while_a_cpu_bound_batch_runs():
    async def main():
        ticks = 0

        async def heartbeat():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        beat = asyncio.create_task(heartbeat())
        await asyncio.sleep(0.02)
        before = ticks
        # one long chunk per worker: between the first and the last result the loop waits
        values = await collect(gilwise.amap(spin, [3_000_000] * 4, mode="processes", workers=2,
                                            chunksize=1))
        during = ticks - before
        beat.cancel()
        return values, during

    values, during = run(main())
    assert len(values) == 4
    assert during >= 20, f"the heartbeat ticked only {during} times during the batch"


# -- arun
def test_arun_returns_the_value_and_raises_the_calls_own_exception(mode):
    async def main():
        value = await gilwise.arun(square, 12, mode=mode)
        with pytest.raises(Boom, match="seven is bad"):
            await gilwise.arun(fail_on_seven, 7, mode=mode)
        return value

    assert run(main()) == 144


def test_arun_passes_keywords_to_the_function():
    async def main():
        return await gilwise.arun(int, "ff", base=16)

    assert run(main()) == 255


def test_arun_survives_a_worker_that_dies_and_the_loop_goes_on():
    async def main():
        with pytest.raises(gilwise.WorkerDied):
            await gilwise.arun(os._exit, 3, mode="processes")
        return await gilwise.arun(square, 5, mode="processes")

    assert run(main()) == 25
    assert wait_for_no_workers() == []


def test_arun_timeout_stops_the_call():
    async def main():
        with pytest.raises(gilwise.TaskTimeout):
            await gilwise.arun(sleep_then_return, 30.0, mode="processes", timeout=0.5)

    started = time.monotonic()
    run(main())
    assert time.monotonic() - started < 30
    assert wait_for_no_workers() == []


def test_a_coroutine_function_is_awaited_in_the_workers(mode):
    # from a module a sub-interpreter can import (this one imports psutil, which it cannot)
    from _async_work import double

    async def main():
        return await collect(gilwise.amap(double, range(10), mode=mode))

    assert run(main()) == [2 * i for i in range(10)]


# -- the blocking map inside a loop
@pytest.fixture
def fresh_warning(monkeypatch):
    monkeypatch.setattr(gilwise._api, "_warned_in_loop", False)


def test_the_blocking_map_warns_once_inside_a_running_loop(fresh_warning):
    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            line = _line() + 1
            values = list(gilwise.map(square, range(3), mode="threads"))
            list(gilwise.map(square, range(3), mode="threads"))
        return values, caught, line

    values, caught, line = run(main())
    assert values == [0, 1, 4]
    assert [w.category for w in caught] == [gilwise.BlockingCallWarning]
    assert issubclass(gilwise.BlockingCallWarning, RuntimeWarning)
    assert (caught[0].filename, caught[0].lineno) == (__file__, line)
    assert "gilwise.amap" in str(caught[0].message)
    assert "gilwise.map's results" in str(caught[0].message)


def test_iterating_maps_results_and_pool_map_inside_a_loop_warn(fresh_warning):
    results = gilwise.map(square, range(3), mode="threads")  # made outside any loop

    async def iterate():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            line = _line() + 1
            values = [v for v in results]
        return values, caught, line

    values, caught, line = run(iterate())
    assert values == [0, 1, 4]
    assert [(w.category, w.lineno) for w in caught] == [(gilwise.BlockingCallWarning, line)]

    gilwise._api._warned_in_loop = False

    async def pool_map():
        with warnings.catch_warnings(record=True) as caught, gilwise.Pool(mode="threads") as p:
            warnings.simplefilter("always")
            assert list(p.map(square, range(3))) == [0, 1, 4]
        return caught

    caught = run(pool_map())
    assert [w.category for w in caught] == [gilwise.BlockingCallWarning]
    assert "Pool.map" in str(caught[0].message)


def test_no_warning_where_the_results_are_read_in_another_thread(fresh_warning):
    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = await asyncio.to_thread(list, gilwise.map(square, range(3),
                                                               mode="threads"))
        return values, caught

    values, caught = run(main())
    assert values == [0, 1, 4]
    assert [w for w in caught if w.category is gilwise.BlockingCallWarning] == []


def test_no_warning_outside_a_loop(fresh_warning):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(gilwise.map(square, range(3), mode="threads")) == [0, 1, 4]
    assert [w for w in caught if w.category is gilwise.BlockingCallWarning] == []


def test_amap_itself_does_not_warn(fresh_warning):
    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await collect(gilwise.amap(square, range(3), mode="threads"))
        return caught

    assert [w for w in run(main()) if w.category is gilwise.BlockingCallWarning] == []


def _line() -> int:
    import sys

    return sys._getframe(1).f_lineno
