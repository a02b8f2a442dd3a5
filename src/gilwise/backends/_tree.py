"""A worker process's tree: it leads a process group of its own, and goes as a whole.

Whatever a task starts (a ``subprocess.run`` of ffmpeg) joins its worker's group, so killing
the group on a timeout, a cancel, Ctrl-C or the parent's death takes the task's children
along, where killing the worker alone would leave them running. A child that asks for a
session or group of its own (``start_new_session=True``) escapes, as it asked to; so do the
workers of a nested map, which lead groups of their own and watch for their parent's death.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from multiprocessing import util
from typing import Any

PARENT_CHECK_SECONDS = 0.25
GROUPS = hasattr(os, "setpgid")  # POSIX: not on Windows, where the worker alone is killed


def lead_own_group() -> None:
    """In a new worker: lead a process group of its own, standard input on /dev/null.

    The group is a background one on the user's terminal: a terminal's Ctrl-C, sent to the
    foreground group (the parent's), reaches neither the worker nor its children; the parent
    handles it and kills the group. A background process that reads the terminal is stopped
    (SIGTTIN: ffmpeg reads it unless told ``-nostdin``), hence /dev/null for its children.
    """
    if not GROUPS:
        return
    try:
        os.setpgid(0, 0)
    except OSError:
        return  # stays in the parent's group: killing it then kills the worker alone
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)


def forget_inherited_forkserver() -> None:
    """In a worker forked from a parent that runs a forkserver: forget that server.

    multiprocessing would take it for this process's own, and a nested map here would fail
    waiting on a process that is not its child (ChildProcessError); it starts its own now.
    """
    forkserver = sys.modules.get("multiprocessing.forkserver")
    server = getattr(forkserver, "_forkserver", None)
    if getattr(server, "_forkserver_pid", None) is None:
        return  # none inherited: spawned, started by a forkserver, or none was running
    alive, preload = server._forkserver_alive_fd, server._preload_modules
    server.__init__()  # as new: no server, and a lock no other thread holds
    server._preload_modules = preload
    if alive is not None:
        os.close(alive)  # the parent's server stops once its parent is gone, not when we are


def kill_tree(process: Any) -> None:
    """SIGKILL a worker's process group, then the worker itself (it may not lead one yet).

    Called before the worker is reaped: until then its pid cannot name another group.
    """
    if GROUPS:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except OSError:
            pass  # no such group: not made yet, or the worker and its children are gone
    process.kill()


def watch_parent(ppid: int) -> None:
    """In a worker: once the parent is gone nobody reads our results, so the worker and
    whatever its task started end."""
    while os.getppid() == ppid:
        time.sleep(PARENT_CHECK_SECONDS)
    if GROUPS and os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)  # our own group, this worker included
    os._exit(0)


def kill_at_exit(owner: object, processes: Any) -> util.Finalize:
    """Kill the workers still in ``processes`` (a dict of objects with a ``process``) when
    ``owner`` is collected or this process exits.

    Workers are not daemonic, so that a task may start processes of its own (a nested map);
    at exit multiprocessing joins every non-daemonic child, which would wait forever for an
    idle worker of a pool never closed. Its exit runs finalizers like this one first, in the
    main process and in a worker alike (where ``atexit`` does not run).
    """
    return util.Finalize(owner, _kill_all, args=(processes,), exitpriority=10)


def _kill_all(workers: Any) -> None:
    alive = list(workers.values())
    workers.clear()
    for w in alive:
        kill_tree(w.process)
    for w in alive:
        w.process.join(1)
