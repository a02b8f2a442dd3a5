"""Coroutine functions in gilwise.map: awaited in every mode, per-item guarantees kept."""

from __future__ import annotations

import functools
import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import _async_work as aw
import gilwise
from gilwise import TaskTimeout, usable_cores
from gilwise.auto.decide import gil_enabled


@pytest.mark.parametrize("fn", [
    aw.double, functools.partial(aw.double), aw.Doubler(), aw.returns_awaitable,
], ids=["async def", "partial", "async __call__", "returns an awaitable"])
def test_coroutine_results_in_every_mode(mode, fn, no_leftover_workers):
    assert list(gilwise.map(fn, range(50), mode=mode, workers=2)) == [2 * x for x in range(50)]


def test_unordered_results(mode, no_leftover_workers):
    got = gilwise.map(aw.double, range(50), mode=mode, workers=2, ordered=False)
    assert sorted(got) == [2 * x for x in range(50)]


def test_the_task_s_own_exception(mode, no_leftover_workers):
    with pytest.raises(ValueError, match="bad item 3"):
        list(gilwise.map(aw.fail_on_3, range(10), mode=mode, workers=2))
    got = list(gilwise.map(aw.fail_on_3, range(10), mode=mode, workers=2, on_error="skip"))
    assert got == [0, 1, 2, 4, 5, 6, 7, 8, 9]


def test_a_timeout_cancels_the_coroutine_and_runs_its_finally(mode, tmp_path,
                                                               no_leftover_workers):
    items = [(x, str(tmp_path)) for x in range(5)]
    got = list(gilwise.map(aw.hang_then_mark, items, mode=mode, workers=2, timeout=0.5,
                           on_error="return"))
    assert isinstance(got[0], gilwise.Failure)
    assert got[0].exc_type == TaskTimeout.__name__
    assert got[1:] == [1, 2, 3, 4]
    assert (tmp_path / "finally-0").read_text() == "ran"  # cancelled, not abandoned


def test_retries(mode, tmp_path, no_leftover_workers):
    items = [(x, str(tmp_path)) for x in range(20)]
    got = gilwise.map(aw.fail_first_attempt, items, mode=mode, workers=2, retries=2,
                      backoff=0.01)
    assert list(got) == list(range(20))


@pytest.mark.parametrize("workers_mode", ["threads", "processes"])
def test_a_worker_keeps_concurrency_coroutines_in_flight(workers_mode, no_leftover_workers):
    got = list(gilwise.map(aw.overlap, [50] * 200, mode=workers_mode, workers=1,
                           concurrency=100))
    assert max(got) >= 50  # 50 awaited at once in one worker: counted, not timed


@pytest.mark.parametrize("workers_mode", ["threads", "processes"])
def test_the_next_chunk_starts_while_the_last_coroutines_of_a_chunk_run(workers_mode, request,
                                                                       no_leftover_workers):
    # chunks of 4 on one worker: item 0 waits for an item of chunk 2 to start on its loop,
    # which happens only if chunk 2 does not wait for chunk 1's tail (item 0) to end
    items = [(x, request.node.name, 4) for x in range(12)]
    got = list(gilwise.map(aw.waits_for_the_next_chunk, items, mode=workers_mode, workers=1,
                           chunksize=4, concurrency=10))
    assert got == [True] * 12


def test_a_worker_death_among_overlapping_chunks_is_its_item_s(no_leftover_workers):
    got = list(gilwise.map(aw.dies_on_13, range(40), mode="processes", workers=1,
                           chunksize=8, on_error="return"))
    assert isinstance(got[13], gilwise.Failure) and got[13].exc_type == "WorkerDied"
    assert got[:13] + got[14:] == [x for x in range(40) if x != 13]


def test_coroutines_in_workers_recycled_after_so_many_tasks(no_leftover_workers):
    got = gilwise.map(aw.double, range(30), mode="processes", workers=2, chunksize=5,
                      max_tasks_per_child=7)
    assert list(got) == [2 * x for x in range(30)]


def test_a_generator_through_coroutines_keeps_what_is_read_bounded():
    taken = itertools.count()
    read = 0

    def items():
        nonlocal read
        for x in range(1_000_000):
            read = next(taken) + 1
            yield x

    ahead = 0
    for n, value in enumerate(gilwise.map(aw.double, items(), mode="threads", workers=2)):
        assert value == 2 * n
        ahead = max(ahead, read - n)
    assert read == 1_000_000
    # a few chunks per worker, the window grown at most to its cap while ordered results wait
    # (_engine.feed.WINDOW_HELD_MAX): never the whole input
    assert ahead <= 70_000


def test_auto_runs_a_coroutine_function_on_one_loop():
    result = gilwise.map(aw.double, range(20))
    assert list(result) == [2 * x for x in range(20)]
    assert result.info.mode == "threads" and result.info.workers == 1
    assert "coroutine function" in result.info.reason


@pytest.mark.skipif(not gil_enabled(), reason="free-threaded: no GIL for a loop to hold")
def test_auto_moves_a_loop_that_computes_a_core_to_processes_with_a_loop_each():
    """2 ms of Python between awaits, 100 at once: one loop is a core's worth of work, the
    GIL held; the rest goes to processes, one per usable core, each with its loop."""
    if usable_cores() < 2:
        pytest.skip("one usable core: nothing runs in parallel")
    result = gilwise.map(aw.compute_then_wait, range(1000))
    assert list(result) == list(range(1000))
    assert result.info.mode == "processes", (result.info.reason, result.info.changes)
    assert "threads×1 -> processes" in str(result.info.changes[0])
    assert "waited for the GIL" in result.info.changes[0].why


def test_auto_keeps_a_loop_that_only_waits_on_one_thread():
    result = gilwise.map(aw.only_wait, range(2000))
    assert list(result) == list(range(2000))
    assert (result.info.mode, result.info.workers, result.info.changes) == ("threads", 1, [])


#: how late a task may note its start after its turn (a busy machine preempts it there):
#: the gate spaces 21 turns over a whole second at 20/s, so a window this much shorter than
#: a second still holds at most 20 of the noted starts, and a burst still shows
RECORDING_LAG = 0.025


def _most_in_one_second(starts: list[float]) -> int:
    """The most start times in any one-second window [t, t + 1), less the recording lag."""
    starts = sorted(starts)
    width = 1.0 - RECORDING_LAG
    return max(sum(1 for u in starts if s <= u < s + width) for s in starts)


@pytest.mark.parametrize("fn", [aw.started_at, aw.async_started_at], ids=["plain", "async"])
@pytest.mark.parametrize("rate", [20, "1200/min"])
def test_rate_is_never_exceeded_in_any_one_second_window(mode, fn, rate, no_leftover_workers):
    starts = list(gilwise.map(fn, range(30), mode=mode, workers=3, rate=rate))
    assert len(starts) == 30
    assert _most_in_one_second(starts) <= 20  # evenly spaced: no burst at the start either


def test_a_journal_resumes_a_coroutine_batch(mode, tmp_path, no_leftover_workers):
    journal = tmp_path / "run.db"
    first = list(gilwise.map(aw.fail_on_3, range(10), mode=mode, workers=2, journal=journal,
                             on_error="skip"))
    assert first == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    again = gilwise.map(aw.fail_on_3, range(10), mode=mode, workers=2, journal=journal,
                        on_error="skip")
    assert list(again) == first
    assert again.info.from_journal == 10  # none ran again (3 failed, and stays failed)


ASYNC_JOB = textwrap.dedent('''
    import asyncio
    from pathlib import Path

    HERE = Path(__file__).parent

    async def work(x):
        x = int(x)
        try:
            while x >= 10 and (HERE / "hold").exists():
                await asyncio.sleep(0.02)
        except asyncio.CancelledError:
            with open(HERE / "cancelled", "a") as f:
                f.write(f"{x}\\n")
            raise
        return x * x
''')


def _journaled(db: Path) -> int:
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("cli_mode", ["threads", "processes"])
def test_ctrl_c_of_a_cli_run_over_an_async_function(cli_mode, tmp_path):
    (tmp_path / "job.py").write_text(ASYNC_JOB)
    (tmp_path / "items.txt").write_text("".join(f"{i}\n" for i in range(20)))
    (tmp_path / "hold").write_text("")
    args = ["map", "job:work", "items.txt", "--mode", cli_mode, "--workers", "2",
            "--chunksize", "5", "--journal", "run.db"]
    first = subprocess.Popen([sys.executable, "-m", "gilwise.cli", *args], cwd=tmp_path,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    deadline = time.monotonic() + 30
    while _journaled(tmp_path / "run.db") < 10:
        assert time.monotonic() < deadline and first.poll() is None
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    _, err = first.communicate(timeout=20)
    assert first.returncode == 130, err
    assert "Task was destroyed" not in err and "never awaited" not in err, err
    assert "Traceback" not in err, err
    (tmp_path / "hold").unlink()
    second = subprocess.run([sys.executable, "-m", "gilwise.cli", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    values = [json.loads(line)["value"] for line in second.stdout.splitlines()]
    assert values == [i * i for i in range(20)]  # the 10 journaled, then the rest


@pytest.mark.parametrize("loop_mode", ["threads", "processes"])
def test_the_workers_loops_are_uvloop_s_where_installed(loop_mode, no_leftover_workers):
    try:
        import uvloop  # noqa: F401
        expected = "uvloop"
    except ImportError:
        expected = "asyncio"
    got = set(gilwise.map(aw.loop_module, range(10), mode=loop_mode, workers=2))
    assert {m.split(".")[0] for m in got} == {expected}


# a stopped batch's coroutines are cancelled (their `finally` run) in every mode; Dask's in
# tests/test_dask.py


def stop_early_and_check(folder: Path, stop: str, hanging: int, **options: object) -> None:
    """Map ``aw.wait_then_mark`` over a quick chunk and chunks of 3 hanging items, stop once
    the quick one is back (a break, or its error with on_error="raise"), then check that
    every hanging coroutine's ``finally`` ran, cancelled (polled, 30 s at most)."""
    quick = -hanging if stop == "break" else -100 - hanging
    items = [(quick, str(folder))] * 3 + [(x, str(folder)) for x in range(hanging)]
    results = gilwise.map(aw.wait_then_mark, items, chunksize=3, ordered=False, **options)
    if stop == "break":
        assert next(results) == quick  # sent once every hanging item started
        results.close()  # a break: the hanging coroutines are cancelled, not left for 60 s
    else:
        with pytest.raises(ValueError, match="failed"):
            list(results)
    started = sorted(p.name for p in folder.glob("started-*"))
    assert started == [f"started-{x}" for x in range(hanging)]
    deadline = time.monotonic() + 30
    while len(list(folder.glob("finally-*"))) < hanging:
        assert time.monotonic() < deadline, "a hanging coroutine was never cancelled"
        time.sleep(0.02)
    ends = {(folder / f"finally-{x}").read_text() for x in range(hanging)}
    assert ends == {"cancelled"}  # none ran its 60 s to the end


@pytest.mark.parametrize("stop", ["break", "error"])
def test_stopping_early_cancels_the_coroutines_in_flight(mode, stop, tmp_path, capfd,
                                                         no_leftover_workers):
    stop_early_and_check(tmp_path, stop, 6, mode=mode, workers=3)  # 2 chunks hang
    deadline = time.monotonic() + 30
    while [t for t in threading.enumerate() if t.name.startswith(f"gilwise-{mode[:-1]}")]:
        assert time.monotonic() < deadline, "a worker thread is left running"
        time.sleep(0.02)
    err = capfd.readouterr().err
    assert "Task was destroyed" not in err and "never awaited" not in err, err


def test_stopping_early_cancels_the_coroutines_of_chunks_run_side_by_side(tmp_path):
    # chunks of 4 on one worker: the first ends; those after it (started in its tail, and
    # in each other's) hang until the break cancels them
    items = [(x, str(tmp_path)) for x in range(12)]
    results = gilwise.map(aw.hang_from_4, items, mode="threads", workers=1, chunksize=4,
                          ordered=False)
    assert next(results) == 0
    deadline = time.monotonic() + 20
    while not all((tmp_path / f"started-{x}").exists() for x in range(4, 8)):
        assert time.monotonic() < deadline, "the second chunk never started"
        time.sleep(0.02)
    results.close()

    def marked(what: str) -> set[str]:
        return {p.name.split("-")[1] for p in tmp_path.glob(f"{what}-*")}

    deadline = time.monotonic() + 20
    while marked("finally") != marked("started"):  # each coroutine started was cancelled
        assert time.monotonic() < deadline, "a hanging coroutine was never cancelled"
        time.sleep(0.02)
    deadline = time.monotonic() + 20
    while [t for t in threading.enumerate() if t.name.startswith("gilwise-thread-")]:
        assert time.monotonic() < deadline, "a worker thread is left running"
        time.sleep(0.02)


def test_explain_says_why_a_coroutine_function_runs_on_one_loop():
    decision = gilwise.explain(aw.double, range(5))
    assert (decision.mode, decision.workers) == ("threads", 1)
    assert "coroutine function" in decision.reason and "event loop" in decision.reason
