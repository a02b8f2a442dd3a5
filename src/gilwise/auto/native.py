"""Is the work already parallel in native code? The cores the process's other threads asked
for while the probe ran.

A BLAS call (``np.linalg.svd``, a matrix product) runs on every core by itself: its threads
are OpenBLAS's or OpenMP's, not the probe thread, so the probe thread's own CPU time misses
them. Linux tells each thread's time on a core and waiting for one
(``/proc/self/task/<tid>/schedstat``): their sum over the probe thread and every thread that
Python did not start (native pools), against the wall time, is the cores the work wanted,
however busy the machine (a busy machine only moves time from "on a core" to "waiting for
one"). Python threads (the ticker, other batches' workers, a thread left running) are left
out. Elsewhere the process's CPU time stands in, less the ticker's (a busy machine then makes
the figure smaller, never larger).
"""

from __future__ import annotations

import os
import threading
import time

TASKS = "/proc/self/task"
#: more cores than this wanted by the work's threads together: parallel in native code
PARALLEL_ABOVE = 1.3
#: native threads that wanted this many cores together, while the probe thread was blocked,
#: kept it waiting: it was not waiting on I/O
BUSY_CORES = 0.2
#: the figure a decision for such work carries (1.0): the autopilot then keeps its pool
NATIVE_PARALLEL = "native_parallel"


class NativeDemand:
    """Started in the ticker's thread (left out), read with :meth:`cores` at the end."""

    def __init__(self) -> None:
        self._ticker = threading.get_native_id()
        self._wall = time.perf_counter()
        self._cpu = time.process_time() - time.thread_time()
        self._tasks = _tasks(self._ticker)
        self._native: dict[int, int] = {}  # ns each native thread wanted, as last read

    def cores(self, probe: threading.Thread) -> float:
        """Cores the probe thread and the native threads wanted, on average, since the
        start."""
        wall = time.perf_counter() - self._wall
        if wall <= 0:
            return 0.0
        # with no other thread at the start, the process's CPU time tells as much, at once
        # (reading every thread's figures can take tens of ms on a busy machine)
        if self._tasks:
            now = _tasks(self._ticker)
            if now is not None:
                python = {t.native_id for t in threading.enumerate() if t is not probe}
                ns = sum(total - self._tasks.get(tid, 0) for tid, total in now.items()
                         if tid not in python)
                return ns / 1e9 / wall
        return (time.process_time() - time.thread_time() - self._cpu) / wall

    def busy(self) -> bool:
        """Whether the native threads (the probe thread and every Python thread left out)
        wanted BUSY_CORES or more since the start, or one is runnable now (Linux counts a
        thread's wait for a core only once it ends: a thread just started may show nothing
        yet). A thread that ended counts its time up to the last call. False where that
        cannot be told."""
        wall = time.perf_counter() - self._wall
        now = _tasks(self._ticker) if self._tasks is not None and wall > 0 else None
        if now is None or self._tasks is None:
            return False
        python = {t.native_id for t in threading.enumerate()}
        native = [tid for tid in now if tid not in python]
        self._native.update((tid, now[tid] - self._tasks.get(tid, 0)) for tid in native)
        if sum(self._native.values()) / 1e9 / wall >= BUSY_CORES:
            return True
        return any(_runnable(tid) for tid in native)


def _tasks(leave_out: int) -> dict[int, int] | None:
    """ns on a core plus ns waiting for one, per thread of this process (None: not Linux)."""
    try:
        tids = os.listdir(TASKS)
    except OSError:
        return None
    found: dict[int, int] = {}
    for name in tids:
        tid = int(name)
        if tid == leave_out:
            continue
        try:
            with open(f"{TASKS}/{name}/schedstat", "rb") as stat:
                fields = stat.read().split()
            found[tid] = int(fields[0]) + int(fields[1])
        except (OSError, ValueError, IndexError):
            continue  # it just ended
    return found


def _runnable(tid: int) -> bool:
    """Whether the thread is on a core or waiting for one now (state R)."""
    try:
        with open(f"{TASKS}/{tid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"R"
    except (OSError, IndexError):
        return False
