"""Big arrays to and from worker processes through shared memory (real NumPy, real worker
processes under each start method): identical results, about one copy of the array in all,
read-only in the worker with a clear error, and no segment left behind, whatever the end."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

import gilwise
from _numeric import big_result, column_sum, fail_on, write_into
from gilwise import _shm

np = pytest.importorskip("numpy")

START_METHODS = ["fork", "forkserver", "spawn"]
TESTS = str(Path(__file__).parent)


def segments(pid: int | None = None) -> list[str]:
    """gilwise's segments in /dev/shm (of process ``pid``, or any)."""
    mark = f"{_shm.PREFIX}{pid}-" if pid is not None else _shm.PREFIX
    return [name for name in os.listdir(_shm.SHM) if name.startswith(mark)]


def ours() -> list[str]:
    """Segments of this process or its children (other runs on the machine left aside)."""
    me = psutil.Process()
    pids = {me.pid, *(child.pid for child in me.children(recursive=True))}
    return [name for name in segments() if _shm._owner(name) in pids]


@pytest.fixture(scope="module")
def array():
    return np.random.default_rng(0).random((1250, 10_000))  # 100 MB


@pytest.mark.parametrize("method", START_METHODS)
def test_a_bound_100_mb_array_gives_what_running_in_order_gives(array, method):
    task = functools.partial(column_sum, array)
    got = list(gilwise.map(task, range(32), mode="processes", workers=2, start_method=method))
    assert got == [task(i) for i in range(32)]
    assert ours() == []


def private(process: psutil.Process) -> int:
    """Its private memory (USS), less the pages of /dev/shm files mapped by it alone (which
    smaps calls private): those are counted once, in /dev/shm's usage."""
    shm = sum(m.private_clean + m.private_dirty for m in process.memory_maps()
              if m.path.startswith(_shm.SHM))
    return process.memory_full_info().uss - shm


class Peak:
    """The most private memory of this process and all its children together, plus what
    /dev/shm holds, sampled while a map runs."""

    def __init__(self) -> None:
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def now(self) -> int:
        me = psutil.Process()
        total = 0
        for process in [me, *me.children(recursive=True)]:
            try:
                total += private(process)
            except psutil.Error:
                pass
        stat = os.statvfs(_shm.SHM)
        return total + (stat.f_blocks - stat.f_bfree) * stat.f_frsize

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, self.now())
            time.sleep(0.01)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("method", START_METHODS)
def test_the_workers_and_the_parent_hold_about_one_copy_of_the_array(array, method):
    task = functools.partial(column_sum, array)
    # the workers' own start (an interpreter with NumPy imported), measured without the array
    with Peak() as bare:
        list(gilwise.map(functools.partial(column_sum, array[:2]), range(32),
                         mode="processes", workers=2, start_method=method))
    before = Peak().now()
    with Peak() as peak:
        list(gilwise.map(task, range(32), mode="processes", workers=2, start_method=method))
    grown = peak.most - before - max(0, bare.most - before)
    # one copy in shared memory, plus transient ones the peak sampler may catch (the
    # parent's pickling, a worker's start; 1.8 and 2.1 copies seen under CI's load, on
    # 3.11 and 3.13t with forkserver); every worker with a copy of its own, without
    # sharing, grew 4 to 6 copies
    assert grown < 2.5 * array.nbytes, f"grew {grown / 1e6:.0f} MB for a 100 MB array"


def test_a_write_into_a_shared_array_fails_saying_how_to_get_a_copy(array):
    with pytest.raises(ValueError) as caught:  # the task's own, explained
        list(gilwise.map(functools.partial(write_into, array), range(2), mode="processes",
                         workers=2))
    message = str(caught.value)
    assert "read-only" in message and "shared memory" in message
    assert "x.copy()" in message
    assert ours() == []


@pytest.mark.parametrize("method", START_METHODS)
def test_big_results_come_back_whole_and_writable(method):
    results = list(gilwise.map(big_result, range(6), mode="processes", workers=2,
                               start_method=method))
    for seed, value in enumerate(results):
        assert value.shape == (5_000_000,) and (value == seed).all()
    results[0][0] = -1.0  # the caller's own: writable
    assert ours() == []


def test_below_the_threshold_or_switched_off_nothing_is_shared(array):
    task = functools.partial(column_sum, array)
    assert list(gilwise.map(task, range(4), mode="processes", workers=2,
                            share_above=None)) == [task(i) for i in range(4)]
    written = []
    original = _shm._write
    try:
        _shm._write = lambda raw: written.append(raw.nbytes) or original(raw)
        list(gilwise.map(task, range(4), mode="processes", workers=2,
                         share_above=2 * array.nbytes))
    finally:
        _shm._write = original
    assert written == []


def test_a_pool_sends_the_array_as_it_is_at_each_map(array):
    mine = array[:100].copy()
    with gilwise.Pool(mode="processes", workers=2) as pool:
        first = list(pool.map(functools.partial(column_sum, mine), range(4)))
        mine *= 2
        second = list(pool.map(functools.partial(column_sum, mine), range(4)))
    assert second == [2 * value for value in first]
    assert ours() == []


def test_a_pool_writes_an_array_once_while_it_lives_unchanged(array, monkeypatch):
    """Map after map of the same bound array: written into shared memory once (checked
    unchanged at each map), written again once changed in place, removed with the pool."""
    written = []
    original = _shm._write
    monkeypatch.setattr(_shm, "_write", lambda raw: written.append(raw.nbytes) or original(raw))
    mine = array[:100].copy()  # 8 MB
    with gilwise.Pool(mode="processes", workers=2) as pool:
        task = functools.partial(column_sum, mine)
        first = [list(pool.map(task, range(4))) for _ in range(3)]
        assert written == [mine.nbytes]
        assert len(ours()) == 1
        mine[0, 0] += 1.0
        changed = list(pool.map(functools.partial(column_sum, mine), range(4)))
        assert written == [mine.nbytes] * 2
    assert first[0] == first[1] == first[2] != changed
    assert changed == [column_sum(mine, i) for i in range(4)]
    assert ours() == []


def test_no_segment_is_left_after_a_task_raises(array):
    with pytest.raises(ValueError, match="item five"):
        list(gilwise.map(functools.partial(fail_on, array), range(10), mode="processes",
                         workers=2, chunksize=1))
    assert ours() == []


PARENT = textwrap.dedent('''
    import functools, sys
    sys.path.insert(0, {tests!r})
    import numpy as np
    import gilwise
    from _numeric import hold_while

    if __name__ == "__main__":
        array = np.ones((1000, 1000))  # 8 MB: shared
        task = functools.partial(hold_while, {hold!r})
        print("started", flush=True)
        print(list(gilwise.map(lambda i: task(i) + array[0, 0], range(4), mode="processes",
                               workers=2)))
''')


def _parent(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    hold = tmp_path / "hold"
    hold.write_text("")
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(tests=TESTS, hold=str(hold)))
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not segments(process.pid):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the parent never shared its array"
        time.sleep(0.05)
    return process, hold


def test_ctrl_c_leaves_no_segment(tmp_path):
    process, _ = _parent(tmp_path)
    time.sleep(0.3)  # the workers are holding
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert "resource_tracker" not in err and "leaked" not in err
    assert segments(process.pid) == []


def test_the_next_run_removes_what_a_killed_parent_left(tmp_path, array):
    process, _ = _parent(tmp_path)
    process.kill()
    process.wait()
    left = segments(process.pid)
    assert left, "the killed parent's segment should still be there"
    list(gilwise.map(functools.partial(column_sum, array[:10]), range(2), mode="processes",
                     workers=2))
    assert segments(process.pid) == []


def test_initargs_and_items_travel_shared_too(array):
    from _numeric import keep_table, table_row_sum, total

    got = list(gilwise.map(table_row_sum, range(8), mode="processes", workers=2,
                           initializer=keep_table, initargs=(array,)))
    assert got == [float(array[row].sum()) for row in range(8)]  # read-only there: + 0.0
    parts = [array[i * 100:(i + 1) * 100] for i in range(6)]  # 8 MB each
    assert list(gilwise.map(total, parts, mode="processes", workers=2)) == \
        [float(part.sum()) for part in parts]
    assert ours() == []


def test_without_room_in_dev_shm_the_temporary_folder_serves_said_once(array, monkeypatch):
    import tempfile

    monkeypatch.setattr(_shm, "SHM", "/nonexistent-shm")
    monkeypatch.setattr(_shm, "_said_fallback", False)
    task = functools.partial(column_sum, array[:200])
    with pytest.warns(RuntimeWarning, match="instead") as warned:
        got = list(gilwise.map(task, range(4), mode="processes", workers=2,
                               start_method="fork"))
        list(gilwise.map(task, range(4), mode="processes", workers=2, start_method="fork"))
    assert got == [task(i) for i in range(4)]
    assert len([w for w in warned if "instead" in str(w.message)]) == 1
    assert not [name for name in os.listdir(tempfile.gettempdir())
                if name.startswith(f"{_shm.PREFIX}{os.getpid()}-")]
