"""A task's own child processes, and processes-mode maps nested in a task.

The bad item's task starts a grandchild (`sleep`, standing in for ffmpeg) and waits for it,
writing its pid to a file. However the task ends early (a timeout, the caller stopping, a
Ctrl-C, the parent killed with SIGKILL), the grandchild goes with it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import gilwise
from _workers import wait_for_no_workers

BAD = 3


def run_a_grandchild_if_bad(args):
    x, pidfile = args
    if x == BAD:
        child = subprocess.Popen(["sleep", "30"])
        partial = Path(pidfile + ".partial")
        partial.write_text(str(child.pid))
        partial.replace(pidfile)  # atomic: the test never reads a half-written pid
        child.wait()
    return x * 10


def worker_pid(_):
    return os.getpid()


def squares_in_a_nested_map(n):
    """A processes map inside a processes task: the sum, and the pids of the inner workers."""
    results = list(gilwise.map(_square_and_pid, range(n), mode="processes", workers=2))
    return sum(v for v, _ in results), sorted({pid for _, pid in results})


def _square_and_pid(x):
    return x * x, os.getpid()


def map_in_a_daemonic_process(_):
    try:
        list(gilwise.map(worker_pid, range(2), mode="processes", workers=1))
    except gilwise.GilwiseError as exc:
        return str(exc)
    return "it ran"


def read_pid(pidfile: Path, seconds: float = 20.0) -> int:
    deadline = time.monotonic() + seconds
    while not pidfile.exists():
        assert time.monotonic() < deadline, "the task never started its grandchild"
        time.sleep(0.02)
    return int(pidfile.read_text())


def gone(pid: int, seconds: float = 5.0) -> bool:
    """Whether ``pid`` ends within ``seconds`` (a zombie waiting for init counts as gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def pidfile(tmp_path):
    path = tmp_path / "grandchild.pid"
    yield path
    if path.exists():  # never leave a sleep behind, whatever the test found
        try:
            os.kill(int(path.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_timeout_kills_the_processes_the_task_started(pidfile):
    items = [(i, str(pidfile)) for i in range(8)]
    outcomes = list(gilwise.map(run_a_grandchild_if_bad, items, mode="processes", workers=2,
                                timeout=1.0, on_error="return", outcomes=True))
    assert outcomes[BAD].failure.exc_type == "TaskTimeout"
    assert [o.value for o in outcomes if o.index != BAD] == [i * 10 for i in range(8) if i != BAD]
    assert gone(read_pid(pidfile))
    assert wait_for_no_workers() == []


def test_stopping_early_kills_the_processes_the_task_started(pidfile):
    items = [(i, str(pidfile)) for i in [BAD, 0, 1, 2]]  # the bad one is sent out first
    results = gilwise.map(run_a_grandchild_if_bad, items, mode="processes", workers=2,
                          chunksize=1, ordered=False)
    assert next(results) == 0
    grandchild = read_pid(pidfile)
    results.close()  # what a `break` out of the loop does
    assert gone(grandchild)
    assert wait_for_no_workers() == []


SCRIPT = textwrap.dedent('''
    import sys
    import gilwise
    from test_process_tree import run_a_grandchild_if_bad

    if __name__ == "__main__":
        items = [(i, sys.argv[1]) for i in range(8)]
        list(gilwise.map(run_a_grandchild_if_bad, items, mode="processes", workers=2,
                         chunksize=1))
''')


def _script_env() -> dict[str, str]:
    here = str(Path(__file__).parent)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([here, *sys.path])}



@pytest.mark.parametrize("how", ["ctrl_c", "sigkill"])
def test_the_parent_interrupted_or_killed_leaves_no_grandchild(pidfile, tmp_path, how):
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script), str(pidfile)], env=_script_env(),
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        grandchild = read_pid(pidfile)
        workers = psutil.Process(parent.pid).children()
        if how == "ctrl_c":
            os.killpg(parent.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        else:
            os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert gone(grandchild)
    assert all(gone(w.pid) for w in workers)


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_a_processes_map_runs_inside_a_processes_task(start_method):
    # a forkserver in this process first: a forked worker inherits it, and must start its own
    list(gilwise.map(worker_pid, range(2), mode="processes", workers=1,
                     start_method="forkserver"))
    results = list(gilwise.map(squares_in_a_nested_map, [5, 10, 20], mode="processes",
                               workers=2, start_method=start_method))
    assert [total for total, _ in results] == [sum(i * i for i in range(n)) for n in (5, 10, 20)]
    inner_workers = {pid for _, pids in results for pid in pids}
    assert inner_workers
    assert all(gone(pid) for pid in inner_workers)
    assert wait_for_no_workers() == []


def test_a_processes_map_in_a_daemonic_process_says_what_to_use_instead():
    with multiprocessing.get_context("fork").Pool(1) as pool:  # its workers are daemonic
        message = pool.apply(map_in_a_daemonic_process, (None,))
    assert "use mode='threads' there" in message


UNCLOSED = textwrap.dedent('''
    import gilwise
    from test_process_tree import worker_pid

    if __name__ == "__main__":
        pool = gilwise.Pool(mode="processes", workers=2)
        print(*set(pool.map(worker_pid, range(100), chunksize=1)))
        started = gilwise.map(worker_pid, range(10_000), mode="processes", workers=2)
        print(next(started))
        # ends with the pool open and a map half read: neither may hold up the exit
''')


def test_workers_left_open_do_not_hold_up_the_exit(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(UNCLOSED)
    parent = subprocess.Popen([sys.executable, str(script)], env=_script_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = parent.communicate(timeout=20)
    finally:
        if parent.poll() is None:
            for child in psutil.Process(parent.pid).children(recursive=True):
                child.kill()
            parent.kill()
    assert parent.returncode == 0, err
    workers = [int(pid) for pid in out.split()]
    assert len(workers) >= 2
    assert all(gone(pid) for pid in workers)
