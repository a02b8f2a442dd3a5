"""A run of consecutive input items and what became of each: the engine's unit of order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gilwise._outcome import Failure


class Segment:
    """Items ``start, start+1, ...``; ``open`` counts those not final yet."""

    __slots__ = (
        "start", "items", "values", "failures", "attempts", "open", "seconds", "worker", "resumed"
    )

    def __init__(self, start: int, items: Sequence[Any]) -> None:
        self.start = start
        self.items = items
        self.values: list[Any] = [None] * len(items)
        self.failures: dict[int, Failure] = {}  # position -> final failure
        self.attempts: dict[int, int] = {}  # position -> attempts, where more than one
        self.open = len(items)
        self.seconds: list[float] | None = None  # per item, filled by the stats hook
        self.worker: list[str] | None = None
        self.resumed: set[int] | None = None  # positions filled from a journal

    def __len__(self) -> int:
        return len(self.items)
