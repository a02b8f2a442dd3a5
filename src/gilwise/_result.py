"""What ``map`` returns: the stream of results (MapResult), what it says about the run
(RunInfo), and auto mode's choice (Decision)."""

# No `from __future__ import annotations`: these classes are public as gilwise.X, and their
# annotations must not need this module's namespace to be read (typing.get_type_hints).
import weakref
from collections import Counter
from collections.abc import Generator, Iterator
from typing import Any, Protocol


class RunStats(Protocol):
    """What ``RunInfo.stats`` holds after ``map(..., stats=True)``: a ``gilwise.stats.Stats``
    (described here, not imported: that module loads only for a run that asks for it)."""

    started: float  # time.monotonic() as the run began
    items: int  # run by this run
    from_journal: int  # given back by a journal, not run
    failures: Counter[str]  # final failures by exception type
    retried_items: int
    busy: dict[str, float]  # worker -> seconds spent running items

    @property
    def elapsed(self) -> float: ...
    def slowest(self) -> list[tuple[float, int, str]]: ...
    def utilisation(self, workers: int) -> float: ...
    def as_dict(self, workers: int) -> dict[str, Any]: ...
    def render(self, workers: int) -> Any: ...


class RunInfo:
    """What a ``map`` call did: the mode it used and why, and what became of the items.

    Filled in as the run goes, since ``map`` itself starts nothing:

    - before iteration starts: empty (all zeros);
    - from the first result on (the first ``next()`` runs auto's measure): ``mode``,
      ``workers``, ``reason``, ``chosen``, ``start_method`` and, in auto mode, ``figures``;
    - as results are read: ``done``, ``failed``, ``skipped``, ``retried``, ``from_journal``,
      ``recycled``, ``changes`` (and ``mode`` and ``workers``, where auto moves or resizes
      the batch);
    - once the results are all read, or the loop stops early: ``seconds``,
      ``stopped_early``, ``throughput``, and ``stats`` complete.
    """

    __slots__ = ("mode", "workers", "reason", "done", "failed", "skipped", "retried",
                 "from_journal", "seconds", "stopped_early", "figures", "stats", "changes",
                 "chosen", "start_method", "recycled", "_ended")
    mode: str
    workers: int
    reason: str
    done: int
    failed: int
    skipped: int
    retried: int
    from_journal: int
    seconds: float
    stopped_early: bool  # the caller stopped reading (break, close): the rest cancelled
    figures: dict[str, float]
    stats: RunStats | None  # a gilwise.stats.Stats when map(..., stats=True)
    #: each change while the batch ran, when and why: of the worker count (auto mode's I/O-bound
    #: pools, gilwise._steer.Change) and of the mode (auto mode's moves as the work changes
    #: nature, gilwise._watch.ModeChange)
    changes: list[Any]
    #: what the run started with and why, "threads×64: I/O-bound ...": ``mode``, ``workers``
    #: and ``reason`` are the latest, after any ``changes``
    chosen: str
    #: how the worker processes started: "fork", "forkserver" (when the parent had another
    #: thread alive) or "spawn"; None where no process started (threads, interpreters, dask)
    start_method: str | None
    #: workers replaced after ``max_tasks_per_child`` items or over ``max_memory_per_child``
    recycled: int

    def __init__(self, mode: str = "", workers: int = 0, reason: str = "", done: int = 0,
                 failed: int = 0, skipped: int = 0, retried: int = 0, from_journal: int = 0,
                 seconds: float = 0.0, stopped_early: bool = False,
                 figures: dict[str, float] | None = None, stats: RunStats | None = None,
                 changes: list[Any] | None = None, chosen: str = "",
                 start_method: str | None = None, recycled: int = 0) -> None:
        self.mode, self.workers, self.reason = mode, workers, reason
        self.done, self.failed, self.skipped, self.retried = done, failed, skipped, retried
        self.from_journal, self.seconds, self.stopped_early = from_journal, seconds, stopped_early
        self.figures = {} if figures is None else figures
        self.stats = stats
        self.changes = [] if changes is None else changes
        self.chosen = chosen
        self.start_method = start_method
        self.recycled = recycled
        self._ended = False  # the run is over: read by MapResult

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__[:-1])
        return f"RunInfo({fields})"

    @property
    def throughput(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0


class MapResult(Iterator[Any]):
    """Results of a ``map`` call, streamed as they are ready. ``.info`` says how it ran.

    Iterating starts the work. Stopping early (``break`` or an exception in a for-loop over
    it, ``close()``, the end of a ``with`` block) cancels what is still running and leaves no
    worker behind, at once. ``next()`` reads the same stream as a for-loop.
    """

    def __init__(self, gen: Generator[Any, None, None], info: RunInfo) -> None:
        self.info = info
        self._gen: Generator[Any, None, None] | None = gen
        self._weak = weakref.ref(gen)
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        # The loop gets the generator itself (no extra call per item) and with it the only
        # strong reference: when the loop ends, a break included, CPython frees the generator
        # there and then, and its `finally` stops the workers. Only a weak one is kept here.
        gen = self._live()
        self._gen = None
        return gen if gen is not None else iter(())

    def __next__(self) -> Any:
        gen = self._live()
        if gen is None:
            raise StopIteration
        return next(gen)

    def _live(self) -> Generator[Any, None, None] | None:
        gen = self._gen or self._weak()
        if gen is None and not self._closed and (self.info.stopped_early or not self.info._ended):
            raise RuntimeError(
                "gilwise.map: these results were cancelled when the loop reading them stopped "
                "early (a break, an exception, or a reader such as itertools.islice letting go "
                "of them); read them all in one loop, or with next()"
            )
        return gen

    def close(self) -> None:
        """Cancel the work still out and stop the workers (nothing if the map is over)."""
        self._closed = True
        gen, self._gen = self._gen or self._weak(), None
        if gen is not None:
            gen.close()

    def __enter__(self) -> "MapResult":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Decision:
    """The mode chosen, with how many workers, the reason in words and the figures behind."""

    __slots__ = ("mode", "workers", "reason", "figures", "grows_to", "item_seconds")
    mode: str
    workers: int
    reason: str
    figures: dict[str, float]
    #: an I/O-bound pool may grow up to this many threads as the batch runs (0: fixed)
    grows_to: int
    #: seconds an item took in the probe thread, alone (0: none finished in time)
    item_seconds: float

    def __init__(self, mode: str, workers: int, reason: str,
                 figures: dict[str, float] | None = None, grows_to: int = 0,
                 item_seconds: float = 0.0) -> None:
        self.mode, self.workers, self.reason = mode, workers, reason
        self.figures = {} if figures is None else figures
        self.grows_to, self.item_seconds = grows_to, item_seconds

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Decision({fields})"

    def __str__(self) -> str:
        return f"{self.mode}×{self.workers}: {self.reason}"
