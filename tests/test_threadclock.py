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
    """The thread hashes (GIL released: never blocked for long) on the one core a busy process also
    wants, so it waits for that core about half the time; read every 10 ms from here, its
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
        blocked = []
        for _ in range(40):
            start = clocks[0].settled_sample()
            time.sleep(0.01)
            end = clocks[0].settled_sample()
            if start.settled and end.settled:  # else: a wait too long to see out, and said so
                blocked.append(span(start, end).blocked)
    finally:
        stop.set()
        spinner.kill()
        spinner.wait()
        worker.join()
        clocks[0].close()
    # near zero: the thread takes the GIL back between hashes, and may wait a moment for it
    assert len(blocked) >= 5 and max(blocked) < 0.5, \
        f"{len(blocked)} read, blocked: " + " ".join(f"{share:.2f}" for share in blocked)
