"""A run of consecutive input items and what became of each: the engine's unit of order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, overload

from gilwise._outcome import Failure


class Segment:
    """Items ``start, start+1, ...``; ``open`` counts those not final yet."""

    __slots__ = (
        "start", "items", "values", "failures", "attempts", "open", "seconds", "worker", "resumed"
    )

    def __init__(self, start: int, items: Sequence[Any]) -> None:
        self.start: int = start
        self.items: Sequence[Any] = items
        self.values: list[Any] = [None] * len(items)
        self.failures: dict[int, Failure] = {}  # position -> final failure
        self.attempts: dict[int, int] = {}  # position -> attempts, where more than one
        self.open: int = len(items)
        self.seconds: list[float] | None = None  # per item, filled by the stats hook
        self.worker: list[str] | None = None
        self.resumed: set[int] | None = None  # positions filled from a journal

    def __len__(self) -> int:
        return len(self.items)


class Tail(Sequence[Any]):
    """A list, tuple or range from item ``start`` on, sliced on demand and never copied
    whole: what auto mode hands the engine after running the first items itself."""

    __slots__ = ("_items", "_start")

    def __init__(self, items: Sequence[Any], start: int) -> None:
        self._items, self._start = items, start

    def __len__(self) -> int:
        return max(0, len(self._items) - self._start)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return self._items[self._start + start:self._start + stop:step]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return self._items[self._start + index % len(self)]
