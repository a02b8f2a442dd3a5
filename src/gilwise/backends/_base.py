"""The small contract every backend fulfils, so one engine drives every mode.

A backend owns workers and moves chunks to them and results back. It knows nothing of
ordering, retries, journals or progress: those live in the engine. The engine assigns each
chunk to a named worker, so it always knows what a worker held when it died or hung.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gilwise._options import Options
from gilwise._task import Chunk, ChunkResult


def drain(outbox: queue.SimpleQueue, timeout: float) -> list[Any]:
    """Everything in ``outbox``, waiting up to ``timeout`` seconds for the first message
    (0: not at all): how the in-process backends collect their workers' results."""
    try:
        pending = [outbox.get(timeout=timeout) if timeout > 0 else outbox.get_nowait()]
    except queue.Empty:
        return []
    while True:
        try:
            pending.append(outbox.get_nowait())
        except queue.Empty:
            return pending


@dataclass
class Done:
    """A worker finished a chunk."""

    worker: int
    result: ChunkResult


@dataclass
class Lost:
    """A worker is gone (``kind`` "died") or was given up on (``kind`` "timeout").

    ``position`` is the index within its running chunk of the item it was executing, when the
    chunk was tracked, else None.
    """

    worker: int
    kind: str
    reason: str
    position: int | None


Event = Done | Lost


class Backend(ABC):
    """Workers of one kind. Methods are called from the engine's thread only."""

    name: str = "?"
    #: chunks a worker may hold at once: one running and some queued behind it
    depth: int = 2

    def __init__(self, options: Options) -> None:
        self.options = options
        self.size = options.worker_count()

    @abstractmethod
    def start(self) -> None:
        """Bring the number of live workers up to ``size``."""

    @abstractmethod
    def register(self, fn: Callable[[Any], Any]) -> int:
        """Make ``fn`` known to the workers; chunks name it by the returned id."""

    @abstractmethod
    def workers(self) -> list[int]:
        """Ids of the live workers."""

    @abstractmethod
    def submit(self, worker: int, chunk: Chunk) -> None:
        """Queue ``chunk`` on ``worker``."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Event]:
        """Wait up to ``timeout`` seconds for finished chunks and lost workers."""

    @abstractmethod
    def running_since(self, worker: int, chunk_id: int) -> tuple[int, float] | None:
        """(position, monotonic start) of the item ``worker`` runs in tracked ``chunk_id``."""

    @abstractmethod
    def give_up(self, worker: int, reason: str) -> None:
        """Stop waiting for ``worker`` (it hung): kill it or abandon it, report it Lost."""

    @abstractmethod
    def cancel(self, workers: list[int]) -> None:
        """Discard the work ``workers`` hold, after a run ends early."""

    @abstractmethod
    def close(self, kill: bool = False) -> None:
        """Stop every worker; with ``kill``, without waiting for them."""

    def describe(self) -> str:
        return f"{self.name}×{self.size}"
