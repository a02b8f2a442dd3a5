"""The engine's move to another backend in mid-batch (auto mode's change of mode).

New chunks go to the new backend only; the chunks already out stay where they are (a chunk
runs in one place, so no item runs twice) and their events are merged with the new backend's
until none is left, a lost one being sent again to the new backend like any other. Order
needs nothing more: the engine's books are by chunk id and segment, not by backend. The old
backend is left idle to its owner (a ``Pool`` keeps it, ``gilwise.map`` closes it at the end).
"""

from __future__ import annotations

from collections.abc import Iterable

from gilwise.backends._base import Backend, Event, Supervised

#: how long the engine waits on the new backend while chunks are still out on an old one
OLD_POLL_SECONDS = 0.01


class Handover:
    """The old backends still holding chunks, by chunk id."""

    def __init__(self) -> None:
        self._old: dict[int, Backend] = {}

    def __bool__(self) -> bool:
        return bool(self._old)

    def leave(self, backend: Backend, chunk_ids: Iterable[int]) -> None:
        """These chunks stay on ``backend``, which is sent nothing new."""
        for chunk_id in chunk_ids:
            self._old[chunk_id] = backend

    def take_back(self, backend: Backend) -> None:
        """``backend`` is sent chunks again: those still out on it are its own again."""
        self._old = {cid: b for cid, b in self._old.items() if b is not backend}

    def owner(self, chunk_id: int, current: Backend) -> Backend:
        return self._old.get(chunk_id, current)

    def supervisor(self, chunk_id: int, current: Backend) -> Supervised | None:
        owner = self.owner(chunk_id, current)
        return owner if isinstance(owner, Supervised) else None

    def poll(self) -> list[Event]:
        """What became of the chunks on the old backends, without waiting."""
        events: list[Event] = []
        for backend in {id(b): b for b in self._old.values()}.values():
            events += backend.poll(0)
        for event in events:
            self._old.pop(event.chunk_id, None)
        return events

    def cancel(self, chunk_ids: Iterable[int]) -> None:
        """Give up on these chunks wherever they are (the run ended early)."""
        by_backend: dict[int, tuple[Backend, list[int]]] = {}
        for chunk_id in chunk_ids:
            backend = self._old.pop(chunk_id, None)
            if backend is not None:
                by_backend.setdefault(id(backend), (backend, []))[1].append(chunk_id)
        for backend, ids in by_backend.values():
            backend.cancel(ids)
