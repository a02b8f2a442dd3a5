"""How many threads an I/O-bound batch gets: by Little's law from what the probe measured, as
many as the rest of the batch can use, never more than a cap.

An item that computes a share ``demand`` of its time (waiting the rest) keeps a core busy
with ``1 / demand`` threads: ``cores / demand`` threads keep every core busy while the others
wait. Fewer leave the cores idle (300 waits of 100 ms in 64 threads take five rounds instead
of one); more only queue. A batch of known length needs no more threads than items left.
"""

from __future__ import annotations

import math

#: the most threads an I/O-bound pool ever has. A blocked thread is cheap: its stack is
#: virtual memory hardly touched (512 waiting threads add about 20 MB resident here) and it
#: starts in about 0.1 ms, with its first item. The cap keeps a pool from exhausting what
#: each waiting item may hold: see ``thread_cap``
MOST_THREADS = 512
#: ...and at most this share of the open files allowed (``ulimit -n``): each waiting item may
#: hold a socket, a pipe or a file, and the rest of the process needs some too
FILES_SHARE = 0.5


def thread_cap() -> int:
    """The most threads an I/O-bound pool may have here: MOST_THREADS, or fewer where the
    limit on open files is low (1024 by default on many Linux systems gives 512)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit per process
        return MOST_THREADS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MOST_THREADS
    return max(1, min(MOST_THREADS, int(soft * FILES_SHARE)))


def io_threads(demand: float, cores: int, remaining: int | None, cap: int) -> int:
    """Threads for items that compute ``demand`` of their time, ``remaining`` items left
    (None: not known), up to ``cap``. Rounded up to a power of two, so that near figures
    give the same pool, then held to the items left: threads beyond them would never start."""
    needed = max(cores + 4, math.ceil(cores / max(demand, 1e-3)))
    threads = min(cap, 1 << (needed - 1).bit_length())
    if remaining is not None:
        threads = min(threads, remaining)
    return max(1, threads)
