"""At most N items of one key in flight (``per_key=(key_fn, N)``): the feeder's gate.

A chunk whose key has every slot taken is held aside, not sent, so the feeder goes on with
other keys' items; it is sent as soon as one of its key's chunks comes back. The engine
sends one item per chunk under a gate, so a chunk's key is its item's key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from gilwise._task import Chunk


class KeyGate:
    """Slots per key: ``admit`` a chunk or hold it, ``release`` its slot, ``take`` a held
    chunk whose key has a free slot again."""

    def __init__(self, key_fn: Callable[[Any], Hashable], limit: int) -> None:
        self.key_fn, self.limit = key_fn, limit
        self.running: dict[Hashable, int] = {}
        self._held: dict[Hashable, deque[Chunk]] = {}
        self._freed: deque[Hashable] = deque()  # keys with held chunks and a slot free
        self._key_of: dict[int, Hashable] = {}  # chunk id -> key, while it holds a slot
        self.held = 0

    def key(self, chunk: Chunk) -> Hashable:
        """The chunk's key (raises what ``key_fn`` raises, or TypeError if unhashable)."""
        key = self.key_fn(chunk.items[0])
        hash(key)
        return key

    def admit(self, chunk: Chunk, key: Hashable) -> bool:
        """Take a slot of ``key`` for ``chunk`` (True), or hold the chunk (False)."""
        if self.running.get(key, 0) < self.limit and key not in self._held:
            self._occupy(chunk.id, key)
            return True
        self._held.setdefault(key, deque()).append(chunk)
        self.held += 1
        return False

    def occupy(self, key: Hashable) -> None:
        """Count an item running outside the engine's chunks (auto's probe) in its key."""
        self.running[key] = self.running.get(key, 0) + 1

    def _occupy(self, chunk_id: int, key: Hashable) -> None:
        self.occupy(key)
        self._key_of[chunk_id] = key

    def release(self, chunk_id: int) -> None:
        """The chunk is back (done, lost or given up on): free its slot."""
        key = self._key_of.pop(chunk_id, None)
        if key is not None:
            self.vacate(key)

    def vacate(self, key: Hashable) -> None:
        """Free one slot of ``key``; its oldest held chunk may go next."""
        self.running[key] -= 1
        if not self.running[key]:
            del self.running[key]
        if key in self._held:
            self._freed.append(key)

    def take(self) -> Chunk | None:
        """A held chunk whose key has a free slot, oldest of its key first."""
        while self._freed:
            key = self._freed.popleft()
            queue = self._held.get(key)
            if queue is None or self.running.get(key, 0) >= self.limit:
                continue
            chunk = queue.popleft()
            if not queue:
                del self._held[key]
            self.held -= 1
            self._occupy(chunk.id, key)
            return chunk
        return None
