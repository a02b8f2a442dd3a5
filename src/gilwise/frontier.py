"""A frontier: the items of a map that may grow while it runs (a crawl's links, a job's
follow-up tasks). ``gilwise.map(fn, frontier)`` takes its items lazily, as from any input;
when it is empty the map waits for the items in flight, whose results may ``add`` more,
and ends only when it is empty with nothing in flight.

    frontier = gilwise.Frontier(seeds, unique=True)
    for page in gilwise.map(fetch, frontier, mode="threads", ordered=False):
        frontier.extend(page.links)        # fetched in this same map, each link once
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Any


class Frontier:
    """A thread-safe queue of items to map; ``unique=True`` drops an item added before."""

    def __init__(self, items: Iterable[Any] = (), *, unique: bool = False) -> None:
        self._queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self._seen: set[Hashable] | None = set() if unique else None
        self.added = 0  # items accepted so far
        self.extend(items)

    def add(self, item: Any) -> bool:
        """Queue ``item``; False if ``unique`` and it was added before."""
        with self._lock:
            if self._seen is not None:
                if item in self._seen:
                    return False
                self._seen.add(item)
            self._queue.append(item)
            self.added += 1
            return True

    def extend(self, items: Iterable[Any]) -> int:
        """Queue every item; returns how many were accepted."""
        return sum(self.add(item) for item in items)

    def take(self, n: int) -> list[Any]:
        """Up to ``n`` queued items, oldest first (what the map's feeder calls)."""
        with self._lock:
            return [self._queue.popleft() for _ in range(min(n, len(self._queue)))]

    @property
    def pending(self) -> int:
        """Items queued and not yet taken."""
        return len(self._queue)

    def __repr__(self) -> str:
        return f"<gilwise.Frontier: {self.pending} pending of {self.added} added>"
