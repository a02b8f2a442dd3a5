"""The crash matrix: one bad item among 50, every way a task can go wrong.

For each: the other 49 results are all there and right, the bad item fails with the right
error, the pool is back to its size, and no process is left over.
"""

from __future__ import annotations

import ctypes
import faulthandler
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import gilwise
from _crash import HttpError
from _workers import wait_for_no_workers, worker_processes

BAD = 17
WORKERS = 2


class Unpicklable:
    """Pickles fine, fails to unpickle in the worker."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    raise RuntimeError("this object refuses to be unpickled")


class HoldsALock(Exception):
    def __init__(self, lock):
        super().__init__("an exception carrying a lock")
        self.lock = lock


def segfault(x):
    if x == BAD:
        faulthandler.disable()  # pytest's, inherited by the worker: a dump would only be noise
        ctypes.string_at(0)
    return x * 10


def exit_3(x):
    if x == BAD:
        os._exit(3)
    return x * 10


def spin_forever(x):
    if x == BAD:
        while True:
            pass
    return x * 10


def return_a_lock(x):
    return threading.Lock() if x == BAD else x * 10


def raise_a_lock(x):
    if x == BAD:
        raise HoldsALock(threading.Lock())
    return x * 10


def times_ten(x):
    return x * 10


def sleep_if_bad(args):
    x, pidfile = args
    if x == BAD:
        partial = Path(pidfile + ".partial")
        partial.write_text(str(os.getpid()))
        partial.replace(pidfile)  # atomic: the killer never reads a half-written pid
        time.sleep(60)
    return x * 10


def flaky(args):
    x, folder = args
    marker = Path(folder) / f"{x}.attempts"
    with marker.open("a") as f:
        f.write("x")
    if x == BAD and len(marker.read_text()) <= 2:
        raise ConnectionError(f"attempt {len(marker.read_text())} failed")
    return x * 10


def not_found_once(args):
    x, folder = args
    marker = Path(folder) / f"{x}.attempts"
    with marker.open("a") as f:
        f.write("x")
    if x == BAD and len(marker.read_text()) == 1:
        raise HttpError(404, "not found")  # pickles, but cannot be rebuilt in the parent
    return x * 10


def _check(outcomes, error_type, message):
    assert len(outcomes) == 50
    good = [o for o in outcomes if o.index != BAD]
    assert all(o.ok for o in good), [o.failure for o in good if not o.ok]
    assert [o.value for o in good] == [i * 10 for i in range(50) if i != BAD]
    bad = outcomes[BAD]
    assert not bad.ok
    assert bad.failure.exc_type == error_type
    assert message in bad.failure.message


def _run(fn, items, **options):
    with gilwise.Pool(mode="processes", workers=WORKERS) as pool:
        outcomes = list(pool.map(fn, items, on_error="return", outcomes=True, **options))
        time.sleep(0.1)
        assert len(worker_processes()) == WORKERS  # dead or killed workers were replaced
    assert wait_for_no_workers() == []
    return outcomes


@pytest.mark.parametrize(
    "fn, error_type, message",
    [
        (segfault, "WorkerDied", "killed by SIGSEGV"),
        (exit_3, "WorkerDied", "exited with code 3"),
        (return_a_lock, "PayloadError", "the result could not be pickled"),
        (raise_a_lock, "HoldsALock", "an exception carrying a lock"),
    ],
)
def test_one_bad_item_fails_alone(fn, error_type, message):
    _check(_run(fn, range(50)), error_type, message)


def test_a_hung_task_is_killed_at_its_timeout():
    started = time.monotonic()
    outcomes = _run(spin_forever, range(50), timeout=1.0)
    _check(outcomes, "TaskTimeout", "timeout of 1.0 s")
    assert time.monotonic() - started < 15


def test_a_worker_killed_from_outside_fails_only_its_task(tmp_path):
    pidfile = tmp_path / "pid"
    stop = threading.Event()

    def killer():  # plays the OOM killer: SIGKILL whichever worker runs the bad item
        while not stop.is_set():
            if pidfile.exists():
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
                pidfile.unlink()
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        outcomes = _run(sleep_if_bad, [(i, str(pidfile)) for i in range(50)])
    finally:
        stop.set()
    _check(outcomes, "WorkerDied", "killed by SIGKILL")


def test_an_argument_that_cannot_be_pickled_fails_alone():
    items = [threading.Lock() if i == BAD else i for i in range(50)]
    _check(_run(times_ten, items), "PayloadError", "the argument could not be pickled")


def test_an_argument_that_cannot_be_unpickled_fails_alone():
    items = [Unpicklable() if i == BAD else i for i in range(50)]
    _check(_run(times_ten, items), "PayloadError", "could not be unpickled")


def test_a_task_failing_twice_then_succeeding_is_retried(tmp_path):
    outcomes = _run(flaky, [(i, str(tmp_path)) for i in range(50)], retries=2, backoff=0.01)
    assert [o.value for o in outcomes] == [i * 10 for i in range(50)]
    assert outcomes[BAD].attempts == 3
    assert all(o.attempts == 1 for o in outcomes if o.index != BAD)


def test_retries_run_out_and_the_last_error_is_kept(tmp_path):
    outcomes = _run(flaky, [(i, str(tmp_path)) for i in range(50)], retries=1, backoff=0.01)
    assert outcomes[BAD].failure.exc_type == "ConnectionError"
    assert outcomes[BAD].failure.message == "attempt 2 failed"
    assert outcomes[BAD].attempts == 2


def test_retry_on_limits_which_errors_are_retried(tmp_path):
    outcomes = _run(flaky, [(i, str(tmp_path)) for i in range(50)], retries=3,
                    retry_on=(TimeoutError,), backoff=0.01)
    assert outcomes[BAD].attempts == 1 and not outcomes[BAD].ok


def test_worker_death_is_retried_like_any_error():
    outcomes = _run(exit_3, range(50), retries=1, backoff=0.01)
    assert outcomes[BAD].attempts == 2
    assert outcomes[BAD].failure.exc_type == "WorkerDied"


def test_threads_report_a_timeout_and_abandon_the_thread():
    def slow(x):
        time.sleep(3 if x == BAD else 0.001)
        return x * 10

    started = time.monotonic()
    outcomes = list(gilwise.map(slow, range(50), mode="threads", workers=2, timeout=0.5,
                                on_error="return", outcomes=True))
    _check(outcomes, "TaskTimeout", "abandoned")
    assert time.monotonic() - started < 2.5  # nobody waited for the abandoned thread


def test_an_exception_that_cannot_be_rebuilt_raises_as_itself_with_on_error_raise(tmp_path):
    items = [(i, str(tmp_path)) for i in range(50)]
    with pytest.raises(gilwise.TaskError) as caught:
        list(gilwise.map(not_found_once, items, mode="processes", workers=WORKERS))
    assert caught.value.exc_type == "HttpError"
    assert "HttpError: 404: not found" in str(caught.value)
    assert "raise HttpError(404" in caught.value.remote_traceback
    assert wait_for_no_workers() == []


def test_an_exception_that_cannot_be_rebuilt_is_retried_by_its_name(tmp_path):
    outcomes = _run(not_found_once, [(i, str(tmp_path)) for i in range(50)], retries=1,
                    retry_on=(HttpError,), backoff=0.01)
    assert [o.value for o in outcomes] == [i * 10 for i in range(50)]
    assert outcomes[BAD].attempts == 2
