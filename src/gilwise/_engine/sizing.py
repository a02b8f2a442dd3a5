"""Adaptive chunk size: big enough that IPC does not dominate tiny tasks, small enough
that long tasks spread over every worker (the idea of joblib's auto batching)."""

from __future__ import annotations

import math

from gilwise._options import Options
from gilwise.backends._base import Backend
from gilwise.backends.registry import MODE_SPECS

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
            # ...or shorter than the workers: one item each to start, so none waits
            self.first_size = 1
        else:
            # like multiprocessing.Pool.map: at least 4 chunks a worker, so none idles at the end
            self.max_size = max(1, min(SIZED_MAX, math.ceil(total / (4 * workers))))
            self.first_size = min(2, self.max_size)
        self.per_item: float | None = None

    @property
    def measuring(self) -> bool:
        """No chunk has come back yet: the next one is small and timed item by item."""
        return self.fixed is None and self.per_item is None

    def next_size(self) -> int:
        if self.fixed is not None:
            return self.fixed
        if self.per_item is None:
            return self.first_size  # time one or two items before committing to more
        if self.per_item <= 0:
            return self.max_size
        return max(1, min(self.max_size, int(self.target / self.per_item)))

    def observe(self, items: int, seconds: float, item_seconds: list[float] | None = None) -> None:
        """Fold in a finished chunk: a moving average that trusts big chunks more.

        Where items were timed one by one, the first is left out: the first call in a new
        worker is slow (cold caches, lazy imports), the next ones show the task's real cost,
        so tiny tasks get full-size chunks from the second round trip on. After that a chunk
        of hundreds of items outweighs what came before."""
        if items <= 0:
            return
        if item_seconds and len(item_seconds) >= 2:
            sample = sum(item_seconds[1:]) / (len(item_seconds) - 1)
        else:
            sample = seconds / items
        if self.per_item is None:
            self.per_item = sample
        else:
            weight = min(0.9, items / (items + 16))
            self.per_item = (1 - weight) * self.per_item + weight * sample

    @property
    def slow_items(self) -> bool:
        """Items slow enough (>= 1 ms) that tracking each one costs nothing noticeable."""
        return self.per_item is not None and self.per_item >= 1e-3


#: an item's target time in a chunk for a backend not in the registry (a test's)
DEFAULT_CHUNK_SECONDS = 0.02


def sizer_for(backend: Backend, options: Options, total: int | None) -> ChunkSizer:
    """The chunk sizer for ``backend``: fixed at ``options.chunksize``, or aiming at the
    chunk time its mode's registry entry gives."""
    fixed = None if options.chunksize == "auto" else options.chunksize
    spec = MODE_SPECS.get(backend.name)
    target = spec.chunk_seconds if spec else DEFAULT_CHUNK_SECONDS
    return ChunkSizer(fixed, backend.size, total, target)
