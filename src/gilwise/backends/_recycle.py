"""Recycling workers before they leak the machine dry: a worker's budget of items and private
memory (kept in the worker), and the hard ceiling its supervisor watches (in the parent).

Items are counted, not chunks: a worker whose budget ends inside a chunk sends back the
items it finished, marked ``leaving``, and the rest of the chunk goes to another worker. The
memory line is checked after every item, the ceiling (:data:`CEILING_FACTOR` times the line)
every :data:`WATCH_SECONDS` while an item runs: a worker growing that far in one item is
killed at once, and that item alone fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from gilwise._memory import PrivateMemory, size_text
from gilwise.backends._tree import kill_tree

#: a worker past this many times ``max_memory_per_child`` while an item runs is killed
CEILING_FACTOR = 2
#: how often the parent reads the private memory of the workers running an item
WATCH_SECONDS = 0.05


class Budget:
    """What a worker may still do before it is replaced: ``left`` items (None: no count),
    and private memory under ``line`` bytes (None: not measured)."""

    def __init__(self, max_tasks: int | None, max_memory: int | None) -> None:
        self.max_tasks, self.left, self.line = max_tasks, max_tasks, max_memory
        self.memory = PrivateMemory() if max_memory is not None else None
        #: why this worker leaves, once it must (then it runs nothing more)
        self.leaving: str | None = None

    @property
    def active(self) -> bool:
        return self.left is not None or self.memory is not None

    def feed(self, items: Iterable[Any]) -> Iterator[Any]:
        """``items`` one by one, stopping once the budget is spent: run_chunk then returns
        the items it finished, fewer than it was given."""
        for item in items:
            yield item
            if self.left is not None:  # here once the item ran (run_chunk asks for the next)
                self.left -= 1
                if self.left <= 0:
                    self.leaving = f"{self.max_tasks} items (max_tasks_per_child)"
                    return
            if self.memory is not None:
                over = self.memory.over(self.line)  # type: ignore[arg-type]
                if over is not None:
                    self.leaving = (f"private memory {size_text(over)} over "
                                    f"max_memory_per_child={size_text(self.line or 0)}")
                    return


def leave() -> None:
    """Exit at once, as a recycled worker process: what it printed is flushed, nothing else
    is cleaned up (its memory goes back to the system with it)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def kill_past_ceiling(busy: Iterable[Any], max_memory: int) -> None:
    """In the parent: kill each worker process of ``busy`` (running an item) whose private
    memory grew past the ceiling; it is reported dead with ``killed_for`` as the reason."""
    for w in busy:
        if w.killed_for is not None or w.giving_up is not None:
            continue
        if w.memory is None:
            w.memory = PrivateMemory(w.process.pid)
        why = over_ceiling(w.memory, w.process.pid, max_memory)
        if why is not None:
            w.killed_for = why
            kill_tree(w.process)


def over_ceiling(memory: PrivateMemory, pid: int, max_memory: int) -> str | None:
    """Why worker ``pid`` must be killed now, or None."""
    top = CEILING_FACTOR * max_memory
    size = memory.over(top)
    if size is None:
        return None
    return (f"worker {pid} grew to {size_text(size)} of private memory while running this "
            f"item, past the memory ceiling of {size_text(top)} ({CEILING_FACTOR} x "
            f"max_memory_per_child={size_text(max_memory)}): killed")


def note(worker: str, reason: str) -> None:
    """The one log line of a recycle (logging imported here: a run without recycling does
    not load it)."""
    import logging

    logging.getLogger("gilwise").info(
        "worker %s recycled after %s; a new one takes its place", worker, reason)
