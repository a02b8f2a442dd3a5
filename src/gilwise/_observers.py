"""The run's observers: what happens around each finished chunk and segment (counts,
progress bar, journal, stats), called by the engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        self._recorded: dict[int, set[int]] = {}  # segment start -> positions journalled
        self._keys: dict[int, list[str]] = {}  # segment start -> its items' journal keys

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

    def ran(self, segment: Segment, positions: Sequence[int], result: ChunkResult) -> None:
        """Keep per-item seconds and worker. ``timed`` runs time every item (the engine
        sends them tracked chunks), so the seconds are each item's own; else each item of a
        chunk gets the chunk's average. A journal records the items that succeeded at once,
        not when their segment is yielded (an item still running before them in an ordered
        batch would hold them back, from ``status`` and from a resume after a kill)."""
        if not self.per_item:
            return
        self._times(segment, positions, result)
        if self.journal is not None:
            failures = segment.failures  # final, those: not to be retried
            done = [pos for j, pos in enumerate(positions)
                    if j not in result.errors or pos in failures]
            if done:
                self._recorded.setdefault(segment.start, set()).update(done)
                self.journal.record(segment, done, self._keys_of(segment),
                                    self._digests_of(segment))

    def _times(self, segment: Segment, positions: Any, result: ChunkResult) -> None:
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
            skip = (segment.resumed or set()) | self._recorded.pop(segment.start, set())
            positions = [p for p in range(len(segment.items)) if p not in skip]
            digests, keys = self._digests_of(segment), self._keys_of(segment)
            self._digests.pop(segment.start, None)
            self._keys.pop(segment.start, None)
            if positions:
                self.journal.record(segment, positions, keys, digests)
            else:
                self.journal.tick()

    def _keys_of(self, segment: Segment) -> list[str]:
        keys = self._keys.get(segment.start)
        if keys is None:
            keys = self._keys[segment.start] = self.keys(segment)
        return keys

    def _digests_of(self, segment: Segment) -> list[bytes]:
        digests = self._digests.get(segment.start)
        if digests is None:  # the items auto mode ran while choosing: never prefilled
            digests = self._digests[segment.start] = list(map(_item_digest(), segment.items))
        return digests

    def tick(self, running: Callable[[], list[tuple[int, str, float]]] | None = None) -> None:
        """Once per loop turn; ``running``: the items running now, for the journal."""
        if self.journal is not None:
            self.journal.tick(running, self.info.recycled)


def _item_digest() -> Callable[[Any], bytes]:
    """``_identity.item_digest``, imported with a journal's first use (hashlib, pickling)."""
    from gilwise._identity import item_digest

    return item_digest
