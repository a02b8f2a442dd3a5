"""Adaptive chunk size: big enough that IPC does not dominate tiny tasks, small enough
that long tasks spread over every worker (the idea of joblib's auto batching)."""

from __future__ import annotations

import math

UNSIZED_MAX = 8192
SIZED_MAX = 65536


class ChunkSizer:
    """Picks how many items the next chunk gets, from the measured seconds per item."""

    def __init__(
        self,
        fixed: int | None,
        workers: int,
        total: int | None,
        target_seconds: float,
    ) -> None:
        self.fixed = fixed
        self.target = target_seconds
        if total is None:
            # an input of unknown length may be huge: keep what is in flight small
            self.max_size = UNSIZED_MAX
        else:
            # like multiprocessing.Pool.map: at least 4 chunks a worker, so none idles at the end
            self.max_size = max(1, min(SIZED_MAX, math.ceil(total / (4 * workers))))
        self.per_item: float | None = None

    def next_size(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self.per_item is None:
            return 1  # measure one item before committing to more
        if self.per_item <= 0:
            return self.max_size
        return max(1, min(self.max_size, int(self.target / self.per_item)))

    def observe(self, items: int, seconds: float) -> None:
        """Fold in a finished chunk: a moving average that trusts big chunks more."""
        if items <= 0:
            return
        sample = seconds / items
        if self.per_item is None:
            self.per_item = sample
        else:
            weight = min(0.5, items / (items + 16))
            self.per_item = (1 - weight) * self.per_item + weight * sample

    @property
    def slow_items(self) -> bool:
        """Items slow enough (>= 1 ms) that tracking each one costs nothing noticeable."""
        return self.per_item is not None and self.per_item >= 1e-3
