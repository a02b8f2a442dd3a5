"""The run's observers: what happens around each finished chunk and segment (counts,
progress bar, journal, stats), called by the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gilwise._chunk import ChunkResult
from gilwise._outcome import Failure
from gilwise._result import RunInfo
from gilwise._segment import Segment

if TYPE_CHECKING:
    from gilwise.journal import Journal
    from gilwise.progress import ProgressBar
    from gilwise.stats import Stats


class Observers:
    """The engine calls ``prefill`` before sending a segment, ``ran`` per finished chunk,
    ``finished`` per finished segment and ``tick`` once per loop turn."""

    def __init__(
        self,
        info: RunInfo,
        bar: ProgressBar | None = None,
        journal: Journal | None = None,
        key: Callable[[Any], Any] | None = None,
        stats: Stats | None = None,
        detailed: bool = False,
    ) -> None:
        self.info, self.bar, self.journal, self.key, self.stats = info, bar, journal, key, stats
        # outcomes, stats and a journal want each item's own seconds and worker (the engine
        # then times every item, and a journal can say which items run now)
        self.timed = detailed or stats is not None or journal is not None
        self.per_item = self.timed
        self._digests: dict[int, list[bytes]] = {}  # segment start -> its items' digests

    def keys(self, segment: Segment) -> list[str]:
        if self.key is None:
            return list(map(str, range(segment.start, segment.start + len(segment.items))))
        return [repr(self.key(item)) for item in segment.items]

    def prefill(self, segment: Segment) -> list[int] | range:
        """Fill in what the journal already holds; return the positions still to run."""
        everything = range(len(segment.items))
        if self.journal is None:
            return everything
        # digests taken before the items are sent: a task that changes its item in place
        # (threads) must not change what the journal knows it by
        digests = self._digests[segment.start] = list(map(_item_digest(), segment.items))
        if not self.journal.resuming:
            return everything
        todo: list[int] = []
        resumed: set[int] = set()
        for pos, key in enumerate(self.keys(segment)):
            found = self.journal.lookup(key, digests[pos])
            if found is None:
                todo.append(pos)
                continue
            ok, value = found
            if ok:
                segment.values[pos] = value
            else:
                segment.failures[pos] = Failure(
                    segment.start + pos, segment.items[pos], value.exc_type, value.message,
                    value.traceback, value.attempts, value.exception)
            resumed.add(pos)
            segment.open -= 1
        if resumed:
            segment.resumed = resumed
            self.info.from_journal += len(resumed)
        return todo if resumed else everything

    def ran(self, segment: Segment, positions: Any, result: ChunkResult) -> None:
        """Keep per-item seconds and worker. ``timed`` runs time every item (the engine
        sends them tracked chunks), so the seconds are each item's own; else each item of a
        chunk gets the chunk's average."""
        if not self.per_item:
            return
        if segment.seconds is None or segment.worker is None:
            segment.seconds = [0.0] * len(segment.items)
            segment.worker = [""] * len(segment.items)
        each = result.item_seconds or [result.seconds / max(1, len(result.values))] * len(
            result.values
        )
        for j, pos in enumerate(positions):
            segment.seconds[pos] = each[j]
            segment.worker[pos] = result.worker

    def finished(self, segment: Segment) -> None:
        failed = len(segment.failures)
        self.info.done += len(segment.items) - failed
        self.info.failed += failed
        if self.bar is not None:
            self.bar.advance(len(segment.items) - failed, failed)
        if self.stats is not None:
            self.stats.add(segment)
        if self.journal is not None:
            resumed = segment.resumed
            positions = range(len(segment.items)) if not resumed else [
                p for p in range(len(segment.items)) if p not in resumed
            ]
            digests = self._digests.pop(segment.start, None)
            if digests is None:  # the items auto mode ran while choosing: never prefilled
                digests = list(map(_item_digest(), segment.items))
            self.journal.record(segment, positions, self.keys(segment), digests)

    def tick(self, running: Callable[[], list[tuple[int, str, float]]] | None = None) -> None:
        """Once per loop turn; ``running``: the items running now, for the journal."""
        if self.journal is not None:
            self.journal.tick(running, self.info.recycled)


def _item_digest() -> Callable[[Any], bytes]:
    """``_identity.item_digest``, imported with a journal's first use (hashlib, pickling)."""
    from gilwise._identity import item_digest

    return item_digest
