"""A frontier: the items of a map that may grow while it runs (a crawl's links, a job's
follow-up tasks). ``gilwise.map(fn, frontier)`` takes its items lazily, as from any input;
when it is empty the map waits for the items in flight, whose results may ``add`` more,
and ends only when it is empty with nothing in flight.

    frontier = gilwise.Frontier(seeds, unique=True)
    for page in gilwise.map(fetch, frontier, mode="threads", ordered=False):
        frontier.extend(page.links)        # fetched in this same map, each link once

``Frontier(until_closed=True)`` is an input that stays open: the map waits for items added
from any thread (as an executor's ``submit`` does) and ends only once ``close()`` was called
and everything added is done.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any


class Frontier:
    """A thread-safe queue of items to map; ``unique=True`` drops an item added before;
    ``until_closed=True`` keeps the map waiting for more until :meth:`close`."""

    def __init__(self, items: Iterable[Any] = (), *, unique: bool = False,
                 until_closed: bool = False) -> None:
        self._queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self._seen: set[Hashable] | None = set() if unique else None
        self._until_closed, self._closed = until_closed, False
        self._watchers: list[Callable[[], None]] = []  # called after each item added
        self.added: int = 0  # items accepted so far
        self.extend(items)

    def add(self, item: Any) -> bool:
        """Queue ``item``; False if ``unique`` and it was added before. Raises RuntimeError
        once closed."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"cannot add {item!r}: this Frontier is closed")
            if self._seen is not None:
                if item in self._seen:
                    return False
                self._seen.add(item)
            self._queue.append(item)
            self.added += 1
        self.wake()
        return True

    def close(self) -> None:
        """No more items: a map over it ends once those added are done."""
        with self._lock:
            self._closed = True
        self.wake()

    def wake(self) -> None:
        """Wake the engines watching (``add`` and ``close`` do): one that queued items
        without ``add`` tells them so."""
        with self._lock:
            watchers = list(self._watchers)
        for wake in watchers:
            wake()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def ended(self) -> bool:
        """Whether an empty frontier ends the map (it is not kept open, or was closed)."""
        return not self._until_closed or self._closed

    def watch(self, wake: Callable[[], None]) -> None:
        """Call ``wake()`` after each item added and on close (the engine ends its wait)."""
        with self._lock:
            self._watchers.append(wake)

    def unwatch(self, wake: Callable[[], None]) -> None:
        with self._lock:
            if wake in self._watchers:
                self._watchers.remove(wake)

    def extend(self, items: Iterable[Any]) -> int:
        """Queue every item; returns how many were accepted."""
        return sum(self.add(item) for item in items)

    def take(self, n: int) -> list[Any]:
        """Up to ``n`` queued items, oldest first (what the map's feeder calls)."""
        if not self._queue:
            return []
        with self._lock:
            return [self._queue.popleft() for _ in range(min(n, len(self._queue)))]

    @property
    def pending(self) -> int:
        """Items queued and not yet taken."""
        return len(self._queue)

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return f"<gilwise.Frontier: {self.pending} pending of {self.added} added{state}>"
