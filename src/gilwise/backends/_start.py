"""How a worker process starts: the start method (fork where it is safe, else a forkserver
that has gilwise imported already) and, under spawn, the main script kept from running again."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterator

from gilwise.backends.threads import join_stopping


def _context(method: str | None = None) -> multiprocessing.context.BaseContext:
    """The start method asked for, else fork where safe (Linux, no other thread): cheapest;
    else forkserver, spawn only where there is no forkserver (Windows)."""
    if method is None and sys.platform == "linux":
        joined = join_stopping()  # threads of a threads-mode batch just finished, exiting
        if threading.active_count() == 1:
            method = "fork"
            if joined:
                _await_os_threads(1)
    if method is None:
        forkserver = "forkserver" in multiprocessing.get_all_start_methods()
        method = "forkserver" if forkserver else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        # workers fork from a server that has gilwise imported already (milliseconds each),
        # and that starts them without importing the user's script again
        ctx.set_forkserver_preload([f"{__package__}._forkserver"])
    return ctx


def _await_os_threads(count: int, timeout: float = 0.05) -> None:
    """Wait a moment for the kernel to count ``count`` threads: a joined thread's OS thread
    ends just after its join returns, and a fork beside it draws Python's warning that forking
    a multi-threaded process may deadlock (harmless then: that thread runs no Python)."""
    deadline = time.monotonic() + timeout
    while _os_threads() > count and time.monotonic() < deadline:
        time.sleep(0.0002)


def _os_threads() -> int:
    """This process's threads as Linux counts them (/proc/self/stat's 20th field)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            return int(stat.read().rpartition(b")")[2].split()[17])
    except (OSError, ValueError, IndexError):
        return 1


@contextlib.contextmanager
def _main_without_file() -> Iterator[None]:
    """While a spawn worker starts: hide a ``__main__.__file__`` that names no file (code piped
    to ``python -`` has "<stdin>"). spawn would have each worker run that path again and die
    on it with a traceback; without it the worker starts as under ``python -c``, and what it
    needs from ``__main__`` arrives by value (``_pickling``)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    where = multiprocessing.process.ORIGINAL_DIR or ""  # what spawn resolves it against
    if path is None or getattr(main, "__spec__", None) is not None \
            or os.path.isfile(os.path.join(where, path)):
        yield
        return
    del main.__file__  # type: ignore[union-attr]
    try:
        yield
    finally:
        main.__file__ = path  # type: ignore[union-attr]
