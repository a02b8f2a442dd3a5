"""A thread's clocks, read from another thread: time it waits for a core (taken by another
process) is told apart from time it is blocked, even while such a wait is under way."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time

import pytest

from gilwise._threadclock import ThreadClock, span

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or not ThreadClock().exact,
    reason="needs Linux's /proc/<tid>/schedstat and CPU affinity")



def test_a_thread_sharing_its_core_with_a_busy_process_is_never_read_as_blocked():
    """The thread hashes (GIL released: never blocked for long) on the one core a busy
    process also wants, so it waits for that core about half the time; read every 10 ms, its
    time blocked stays near zero. Linux counts such a wait only once it ends: read while it
    lasts, the plain clocks showed it as blocked (all of a 10 ms span, at times)."""
    core = min(os.sched_getaffinity(0))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    ready, stop, clocks = threading.Event(), threading.Event(), []

    def hash_on_the_busy_core() -> None:
        os.sched_setaffinity(threading.get_native_id(), {core})
        clocks.append(ThreadClock())
        ready.set()
        while not stop.is_set():
            # ~0.4 s of CPU a call, the GIL let go of throughout: not taken back for long
            hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1_000_000)

    worker = threading.Thread(target=hash_on_the_busy_core)
    try:
        os.sched_setaffinity(spinner.pid, {core})
        worker.start()
        ready.wait()
        time.sleep(0.05)  # both under way on the one core
        seen = []
        for _ in range(3):  # a shared machine: measured again before the test fails
            blocked = spans_blocked(clocks[0])
            if near_zero(blocked):
                return
            seen.append(f"{len(blocked)} read, blocked: " +
                        " ".join(f"{share:.2f}" for share in blocked))
    finally:
        stop.set()
        spinner.kill()
        spinner.wait()
        worker.join()
        clocks[0].close()
    pytest.fail("\n".join(seen))


def spans_blocked(clock: ThreadClock) -> list[float]:
    """The blocked share of 40 spans of 10 ms, each read from here."""
    blocked = []
    for _ in range(40):
        start = clock.settled_sample()
        time.sleep(0.01)
        end = clock.settled_sample()
        if start.settled and end.settled:  # else: a wait too long to see out, and said so
            blocked.append(span(start, end).blocked)
    return blocked


def near_zero(blocked: list[float]) -> bool:
    """The thread takes the GIL back between hashes, and may wait for it; read during a wait
    for a core, a span shows most of it blocked, and the mean with it."""
    mostly = sum(share > 0.5 for share in blocked)
    return len(blocked) >= 5 and mostly <= len(blocked) // 10 and \
        sum(blocked) / len(blocked) < 0.08



def test_two_threads_add_up_to_more_than_one_core_only_without_a_gil():
    """The measure behind the free-threaded parallelism test, and its control: two spinning
    threads' CPU clocks, read every fraction of a millisecond, grow faster together than the
    wall clock only where no GIL keeps them apart."""
    import _work

    gil = getattr(sys, "_is_gil_enabled", lambda: True)()
    parallel, figures = _work.overlap_verdict(seconds=1.0 if gil else 2.0)
    assert parallel is not gil, figures


def _own_and_close(clocks: list[ThreadClock], made: threading.Event,
                   go: threading.Event) -> None:
    """Make a clock of this thread, run a moment once told to, and close it."""
    clocks.append(ThreadClock())
    made.set()
    go.wait()
    sum(range(2000))
    clocks[0].close()


def test_a_clock_read_while_its_thread_closes_it_reads_or_says_the_thread_ended():
    """Auto mode reads the probe thread's clocks from its own thread while the probe thread
    ends and closes them (a batch whose input fails at its second line, say): every read
    gives figures or OSError, never a read of a closed file (free-threaded builds, where the
    two run at once, once gave the CLI "'NoneType' object cannot be interpreted as an
    integer")."""
    surprises: list[str] = []
    for _ in range(2000):
        made, go = threading.Event(), threading.Event()
        clocks: list[ThreadClock] = []

        owner = threading.Thread(target=_own_and_close, args=(clocks, made, go))
        owner.start()
        made.wait()
        first = clocks[0].sample()
        go.set()
        while owner.is_alive():
            try:
                clocks[0].settled_sample(limit=0.001)
                clocks[0]._queued(first)  # its read of the thread's state, on its own
            except OSError:
                pass  # the thread has ended: what callers expect
            except Exception as exc:  # noqa: BLE001 - the defect this test is about
                surprises.append(repr(exc))
        owner.join()
    assert not surprises, surprises[:3]
