"""Per-run statistics from per-item outcomes: throughput, slowest items, failures by type,
how busy each worker was. ``gilwise map --stats`` prints them at the end."""

from __future__ import annotations

import heapq
import time
from collections import Counter, defaultdict
from typing import Any

from gilwise._segment import Segment

SLOWEST = 5


class Stats:
    """Fed every finished segment (with per-item seconds and workers). Counts what this run
    ran; the items a journal gave back are only counted, as ``from_journal``."""

    def __init__(self) -> None:
        self.started: float = time.monotonic()
        self.items: int = 0  # run by this run: those taken from a journal are counted apart
        self.from_journal: int = 0
        self.failures: Counter[str] = Counter()
        self.retried_items: int = 0
        self.busy: dict[str, float] = defaultdict(float)
        self._slowest: list[tuple[float, int, str]] = []
        self.recycled = 0  # workers replaced (max_tasks_per_child, max_memory_per_child)

    def add(self, segment: Segment) -> None:
        resumed = segment.resumed or set()
        self.from_journal += len(resumed)
        for pos, failure in segment.failures.items():
            if pos not in resumed:
                self.failures[failure.exc_type] += 1
        self.retried_items += sum(
            1 for pos, a in segment.attempts.items() if a > 1 and pos not in resumed
        )
        seconds, workers = segment.seconds, segment.worker
        for pos in range(len(segment.items)):
            if pos in resumed:
                continue
            self.items += 1
            if seconds is None or workers is None:
                continue
            spent = seconds[pos]
            if workers[pos]:
                self.busy[workers[pos]] += spent
            entry = (spent, segment.start + pos, _short(segment.items[pos]))
            if len(self._slowest) < SLOWEST:
                heapq.heappush(self._slowest, entry)
            elif spent > self._slowest[0][0]:
                heapq.heapreplace(self._slowest, entry)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def slowest(self) -> list[tuple[float, int, str]]:
        return sorted(self._slowest, reverse=True)

    def utilisation(self, workers: int) -> float:
        """Share of the workers' time spent running tasks (1.0: never idle)."""
        capacity = max(workers, 1) * max(self.elapsed, 1e-9)
        return min(1.0, sum(self.busy.values()) / capacity)

    def as_dict(self, workers: int) -> dict[str, Any]:
        return {
            "items": self.items,
            "from_journal": self.from_journal,
            "seconds": self.elapsed,
            "throughput": self.items / max(self.elapsed, 1e-9),
            "failures": dict(self.failures),
            "retried_items": self.retried_items,
            "slowest": [{"index": i, "item": it, "seconds": s} for s, i, it in self.slowest()],
            "utilisation": self.utilisation(workers),
            "recycled": self.recycled,
        }

    def render(self, workers: int) -> Any:
        """A rich renderable: the summary table and the slowest items."""
        from rich.console import Group
        from rich.table import Table

        data = self.as_dict(workers)
        summary = Table(title="gilwise run", show_header=False)
        summary.add_row("items run", f"{data['items']:,}")
        summary.add_row("from the journal", f"{data['from_journal']:,}")
        summary.add_row("wall time", f"{data['seconds']:.2f} s")
        summary.add_row("throughput", f"{data['throughput']:,.1f} items/s")
        summary.add_row("worker utilisation", f"{data['utilisation']:.0%} of {workers} workers")
        summary.add_row("items retried", str(data["retried_items"]))
        summary.add_row("workers recycled", str(data["recycled"]))
        failures = ", ".join(f"{k} ×{v}" for k, v in self.failures.most_common()) or "none"
        summary.add_row("failures by type", failures)
        slow = Table(title=f"slowest {SLOWEST} items")
        for column in ("index", "item", "seconds"):
            slow.add_column(column)
        for seconds, index, item in self.slowest():
            slow.add_row(str(index), item, f"{seconds:.3f}")
        return Group(summary, slow)


def _short(item: Any, limit: int = 40) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."
