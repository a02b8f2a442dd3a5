"""gilwise.map and Pool: results, order, errors, laziness and cleanup, on real workers."""

from __future__ import annotations

import functools
import inspect
import itertools
import os
import sys
import threading
import time
import traceback
from typing import Any

import pytest

import _work
import gilwise
from _workers import wait_for_no_workers
from gilwise._engine.sizing import UNSIZED_MAX
from gilwise.backends._pool import DEPTH
from terminal import run_on_terminal

# The behaviour every mode shares takes the `mode` fixture (conftest.py): threads, processes,
# and interpreters where this Python has them. Its task functions live in _work, a module a
# sub-interpreter can import.


def gilwise_threads() -> list[threading.Thread]:
    """Worker threads of the threads and interpreters modes."""
    return [t for t in threading.enumerate()
            if t.name.startswith(("gilwise-thread-", "gilwise-interpreter-"))]


def wait_for_no_threads(seconds: float = 3.0) -> list[threading.Thread]:
    deadline = time.monotonic() + seconds
    while (left := gilwise_threads()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return left


def workers_left(mode: str) -> list:
    """The workers of ``mode`` still alive after a short wait (threads finish their task)."""
    return wait_for_no_workers() if mode == "processes" else wait_for_no_threads()


def square(x: int) -> int:
    return x * x


def fail_on_seven(x: int) -> int:
    if x == 7:
        raise ValueError(f"seven is bad: {x}")
    return x


def sleep_then_return(x: float) -> float:
    time.sleep(x)
    return x


def pid_of(_: object) -> int:
    time.sleep(0.005)
    return os.getpid()


STATE: dict[str, object] = {}


def remember(tag: str) -> None:
    STATE["tag"] = tag
    STATE["pid"] = os.getpid()


def read_state(_: object) -> tuple[object, object, int]:
    time.sleep(0.005)
    return STATE.get("tag"), STATE.get("pid"), os.getpid()


def test_results_come_back_in_input_order(mode, no_leftover_workers):
    assert list(gilwise.map(_work.square, range(500), mode=mode, workers=2)) == [
        x * x for x in range(500)
    ]


def test_unordered_yields_as_tasks_complete(mode, no_leftover_workers):
    delays = [0.4, 0.0, 0.0, 0.0, 0.0, 0.0]
    out = list(gilwise.map(_work.sleep_then_return, delays, mode=mode, workers=2,
                           ordered=False))
    assert sorted(out) == sorted(delays)
    assert out[-1] == 0.4  # the slow first item arrives last


def test_a_one_shot_map_starts_no_more_workers_than_it_has_items(mode, no_leftover_workers):
    results = gilwise.map(_work.square, [1, 2, 3], mode=mode, workers=6)
    assert list(results) == [1, 4, 9]
    assert results.info.workers == 3
    with gilwise.Pool(mode=mode, workers=6) as pool:  # a Pool's workers serve later maps too
        results = pool.map(_work.square, [1, 2, 3])
        assert list(results) == [1, 4, 9] and results.info.workers == 6


def test_generator_input_is_read_lazily(mode, no_leftover_workers):
    pulled = []

    def numbers():
        for i in itertools.count():
            pulled.append(i)
            yield i

    results = gilwise.map(_work.square, numbers(), mode=mode, workers=2)
    first = list(itertools.islice(results, 10))
    results.close()
    assert first == [x * x for x in range(10)]
    # an infinite input: only a bounded window was read, a few chunks a worker at most
    assert len(pulled) <= 4 * 2 * DEPTH * UNSIZED_MAX


def test_lambdas_and_closures_run_in_every_mode(mode, no_leftover_workers):
    offset = 1000
    assert list(gilwise.map(lambda x: x + offset, range(5), mode=mode, workers=2)) == [
        1000, 1001, 1002, 1003, 1004
    ]


def test_process_mode_really_uses_other_processes(no_leftover_workers):
    pids = set(gilwise.map(pid_of, range(40), mode="processes", workers=2, chunksize=1))
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_on_error_raise_yields_earlier_results_first(mode, no_leftover_workers):
    got = []
    with pytest.raises(_work.Boom) as caught:  # the task's own exception, as Executor.map's
        for value in gilwise.map(_work.fail_on_seven, range(20), mode=mode, workers=2):
            got.append(value)
    assert got == list(range(7))
    err = caught.value
    assert str(err) == "seven is bad: 7"
    assert err.__notes__[-1].startswith("gilwise: raised by the task for item 7 (7)")
    shown = "".join(traceback.format_exception(err))
    assert "fail_on_seven" in shown  # the worker's own traceback: its frames, or the note's


def test_on_error_skip_leaves_failed_items_out_and_counts_them(mode, no_leftover_workers):
    results = gilwise.map(_work.fail_on_seven, range(20), mode=mode, workers=2,
                          on_error="skip")
    assert list(results) == [x for x in range(20) if x != 7]
    assert results.info.skipped == 1 and results.info.failed == 1


def test_on_error_return_puts_a_failure_in_place(mode, no_leftover_workers):
    out = list(gilwise.map(_work.fail_on_seven, range(10), mode=mode, workers=2,
                           on_error="return"))
    failure = out[7]
    assert isinstance(failure, gilwise.Failure) and not failure
    assert (failure.index, failure.item, failure.exc_type) == (7, 7, "Boom")
    assert isinstance(failure.exception, _work.Boom)  # rebuilt in this process
    assert "seven is bad" in failure.message
    assert out[:7] == list(range(7)) and out[8:] == [8, 9]


def test_a_failure_is_one_line_and_its_traceback_starts_in_the_users_code(
    mode, no_leftover_workers
):
    out = list(gilwise.map(_work.fail_on_seven, range(10), mode=mode, workers=2,
                           on_error="return"))
    failure = out[7]
    assert repr(failure) == (
        "Failure(index=7, item=7, exc_type='Boom', message='seven is bad: 7', attempts=1)"
    )
    lines = failure.traceback.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith(f'  File "{_work.__file__}"')
    assert lines[1].endswith("in fail_on_seven")
    assert lines[-1] == "_work.Boom: seven is bad: 7"


def test_outcomes_carry_index_attempts_seconds_and_worker(no_leftover_workers):
    outcomes = list(gilwise.map(sleep_then_return, [0.01] * 4, mode="processes", workers=2,
                                outcomes=True))
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert all(o.ok and o.attempts == 1 and o.seconds >= 0.009 for o in outcomes)
    assert all(o.worker.isdigit() and int(o.worker) != os.getpid() for o in outcomes)


def test_initializer_runs_in_every_worker_process(no_leftover_workers):
    results = list(gilwise.map(read_state, range(40), mode="processes", workers=2, chunksize=1,
                               initializer=remember, initargs=("ready",)))
    assert all(tag == "ready" for tag, _, _ in results)
    assert all(init_pid == pid for _, init_pid, pid in results)  # state is per worker


def test_failing_initializer_is_a_clear_error(mode, no_leftover_workers):
    with pytest.raises(gilwise.WorkerInitError, match="no model file"):
        list(gilwise.map(_work.square, range(5), mode=mode, workers=2,
                         initializer=_work.fail_init))


def test_pool_reuses_its_workers_across_maps(no_leftover_workers):
    with gilwise.Pool(mode="processes", workers=2) as pool:
        first = set(pool.map(pid_of, range(20), chunksize=1))
        second = set(pool.map(pid_of, range(20), chunksize=1))
        assert list(pool.map(square, range(5))) == [0, 1, 4, 9, 16]
    assert first == second


def test_no_worker_left_after_consumer_raises(mode):
    with pytest.raises(RuntimeError):
        for value in gilwise.map(_work.sleep_then_return, [0.05] * 50, mode=mode, workers=2):
            if value:
                raise RuntimeError("the consumer gave up")
    assert workers_left(mode) == []


def test_break_releases_the_workers_at_once(mode):
    results = gilwise.map(_work.sleep_then_return, [0.05] * 50, mode=mode, workers=2)
    for _ in results:
        break
    assert workers_left(mode) == []  # no close(): leaving the loop is enough...
    assert results.info.mode == mode  # ...while `results` is still alive
    with pytest.raises(RuntimeError, match="cancelled when the loop reading them stopped"):
        next(results)  # the rest was cancelled: said, not passed off as the end


def test_a_with_block_closes_the_map_on_exit(mode):
    with gilwise.map(_work.sleep_then_return, [0.05] * 50, mode=mode, workers=2) as results:
        assert next(results) == 0.05
    assert workers_left(mode) == []
    assert results.info.mode == mode


def test_next_and_a_for_loop_read_one_stream(no_leftover_workers):
    results = gilwise.map(square, range(10), mode="processes", workers=2)
    assert next(results) == 0
    assert [next(results), next(results)] == [1, 4]
    assert [value for value in results] == [x * x for x in range(3, 10)]


@pytest.mark.parametrize("taken", [0, 3])
def test_reading_on_after_a_reader_let_go_is_an_error_not_the_end(taken, no_leftover_workers):
    results = gilwise.map(square, range(100), mode="threads", workers=2)
    assert list(itertools.islice(results, taken)) == [x * x for x in range(taken)]
    with pytest.raises(RuntimeError, match="cancelled when the loop reading them stopped"):
        next(results)


def test_a_map_read_to_the_end_is_simply_exhausted(no_leftover_workers):
    results = gilwise.map(square, range(10), mode="threads", workers=2)
    assert len(list(results)) == 10
    assert next(results, "end") == "end" and not results.info.stopped_early


def test_a_pool_is_free_again_right_after_a_break(no_leftover_workers):
    with gilwise.Pool(mode="threads", workers=2) as pool:
        results = pool.map(sleep_then_return, [0.01] * 100)
        for _ in results:
            break
        assert list(pool.map(square, range(3))) == [0, 1, 4]  # not "already running a map"
        assert results.info.stopped_early


def test_no_worker_left_after_batch():
    assert sum(gilwise.map(square, range(1000), mode="processes", workers=2)) == sum(
        x * x for x in range(1000)
    )
    assert wait_for_no_workers() == []


def test_auto_mode_says_what_it_chose_and_why(no_leftover_workers):
    results = gilwise.map(sleep_then_return, [0.02] * 10)
    assert list(results) == [0.02] * 10
    assert results.info.mode == "threads"
    assert "I/O-bound" in results.info.reason


@pytest.mark.parametrize(
    "options, message",
    [
        ({"mode": "gpu"}, "mode='gpu' is not one of"),
        ({"workers": 0}, "workers=0 must be a positive integer"),
        ({"chunksize": -1}, "chunksize=-1 must be"),
        ({"on_error": "ignore"}, "on_error='ignore' is not one of"),
        ({"timeout": 0}, "timeout=0 must be a positive"),
    ],
)
def test_bad_options_are_named_in_the_error(options, message):
    with pytest.raises(ValueError, match=message):
        gilwise.map(square, range(3), **options)


def test_input_error_comes_after_the_items_read_before_it(no_leftover_workers):
    def items():
        yield from range(5)
        raise OSError("disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for value in gilwise.map(square, items(), mode="processes", workers=2):
            got.append(value)
    assert got == [0, 1, 4, 9, 16]


def test_worker_threads_exit_after_batch():
    assert list(gilwise.map(square, range(100), mode="threads", workers=16)) == [
        x * x for x in range(100)
    ]
    assert wait_for_no_threads() == []


def parent_pid(_: object) -> int:
    return os.getppid()


def test_processes_right_after_threads_still_fork_from_this_process(no_leftover_workers):
    # Forking is safe, and cheapest, only while this process has one thread: the threads of
    # the batch before must have exited first, or the workers would come from a forkserver.
    deadline = time.monotonic() + 5  # an earlier test's server may still be closing
    while threading.active_count() > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() == 1, f"an earlier test left threads: {threading.enumerate()}"
    for _ in range(3):
        assert len(list(gilwise.map(sleep_then_return, [0.001] * 256, mode="threads",
                                    workers=128))) == 256
        parents = set(gilwise.map(parent_pid, range(4), mode="processes", workers=2))
        assert parents == {os.getpid()}


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's thread count is read on Linux")
def test_a_fork_first_waits_for_the_kernel_to_count_an_ending_thread_gone():
    # a joined thread's OS thread ends a moment after: forking beside it draws 3.12+'s warning
    from gilwise.backends._start import _await_os_threads, _os_threads

    before = _os_threads()
    ending = threading.Thread(target=time.sleep, args=(0.05,))
    ending.start()
    assert _os_threads() == before + 1
    _await_os_threads(before, timeout=5.0)
    assert _os_threads() == before


def test_thread_initializer_runs_in_every_thread(no_leftover_workers):
    seen = set()

    def init():
        seen.add(threading.get_ident())

    list(gilwise.map(square, range(10), mode="threads", workers=3, initializer=init))
    assert len(seen) == 3


def test_progress_bar_shows_done_total_and_failures(capsys):
    out = list(gilwise.map(fail_on_seven, range(30), mode="threads", workers=2,
                           on_error="return", progress=True))
    assert len(out) == 30
    err = capsys.readouterr().err
    assert "gilwise threads" in err and "30/30" in err and "1 failed" in err


def test_print_goes_to_stdout_while_the_bar_shows_on_a_terminal(tmp_path):
    """``python script.py > out.txt`` with the bar on the terminal (stderr): what the loop
    prints goes to the file, not above the bar (rich's stand-in for sys.stdout sent it there)."""
    script = tmp_path / "script.py"
    script.write_text(
        "import time, gilwise\n"
        "def nap(x):\n"
        "    time.sleep(0.02)\n"
        "    return x\n"
        "for x in gilwise.map(nap, range(40), mode='threads', workers=2, progress=True):\n"
        "    print('got', x)\n"
    )
    code, terminal = run_on_terminal([sys.executable, str(script)], cwd=tmp_path,
                                     stdout=tmp_path / "out.txt")
    assert code == 0, terminal
    assert "gilwise threads" in terminal and "got" not in terminal
    assert (tmp_path / "out.txt").read_text().splitlines() == [f"got {x}" for x in range(40)]


def test_a_pool_runs_one_map_at_a_time(no_leftover_workers):
    with gilwise.Pool(mode="threads", workers=2) as pool:
        first = pool.map(square, range(100))
        assert next(first) == 0
        for _ in range(2):  # refused, and refused again: the first map still holds the workers
            with pytest.raises(RuntimeError, match="already running a map"):
                list(pool.map(square, range(3)))
        assert list(first) == [x * x for x in range(1, 100)]  # the first one is unharmed
        assert list(pool.map(square, range(3))) == [0, 1, 4]  # and then the pool is free


async def fetch(url: str) -> str:
    return url


class AsyncClient:
    async def __call__(self, url: str) -> str:
        return url


def marked_as_coroutine():
    def handler(url: str) -> Any:
        return fetch(url)

    return inspect.markcoroutinefunction(handler)


COROUTINE_FUNCTIONS = {
    "async def": lambda: fetch,
    "partial": lambda: functools.partial(fetch),
    "async __call__": AsyncClient,
    "markcoroutinefunction": marked_as_coroutine,
}


@pytest.mark.parametrize("kind", COROUTINE_FUNCTIONS)
@pytest.mark.parametrize("where", ["gilwise.map", "Pool.map"])
def test_a_coroutine_function_is_awaited_not_returned(kind, where):
    if kind == "markcoroutinefunction" and not hasattr(inspect, "markcoroutinefunction"):
        pytest.skip("inspect.markcoroutinefunction is new in Python 3.12")
    fn = COROUTINE_FUNCTIONS[kind]()
    with gilwise.Pool(mode="threads", workers=2) as pool:
        run = gilwise.map if where == "gilwise.map" else pool.map
        assert list(run(fn, ["https://example.org"])) == ["https://example.org"]
    assert wait_for_no_threads() == []


def test_a_slow_item_is_timed_on_its_own_not_averaged_with_its_chunk(mode, no_leftover_workers):
    results = gilwise.map(_work.sleep_on_500, range(1000), mode=mode, workers=2, stats=True,
                          outcomes=True)
    outcomes = list(results)
    seconds, index, _ = results.info.stats.slowest()[0]
    assert index == 500 and seconds >= 0.05
    assert outcomes[500].seconds >= 0.05
    assert outcomes[499].seconds < 0.025 and outcomes[501].seconds < 0.025  # tiny, not shares
