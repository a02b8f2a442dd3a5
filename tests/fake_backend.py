"""A scriptable backend and a fake clock: the engine's rules tested without any worker.

The backend runs each chunk in the test's own thread, with the real ``run_chunk``, when it
is polled; a test's ``plan`` may instead lose a chunk (as if its worker died or was stopped)
or keep it running. Time moves only when the engine waits: a poll that has nothing to report
advances the clock by the wait asked for (as trio's MockClock jumps to the next deadline).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from gilwise._chunk import Chunk, run_chunk
from gilwise.backends._base import Backend, Done, Event, Lost, Supervised

RUNNING = None  # a plan's answer: the chunk goes on running


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeBackend(Backend):
    """``plan(chunk)`` says what becomes of a chunk at each poll: a Lost (lose it), RUNNING,
    or "run" (the default: run it and report Done). ``finish_order`` orders each poll's
    finished chunks (default: as submitted)."""

    name = "fake"

    def __init__(self, options: Any, clock: FakeClock, capacity: int = 4,
                 plan: Callable[[Chunk], Any] | None = None,
                 finish_order: Callable[[list[Chunk]], list[Chunk]] | None = None) -> None:
        super().__init__(options)
        self.clock, self._capacity = clock, capacity
        self.plan = plan or (lambda chunk: "run")
        self.finish_order = finish_order or (lambda chunks: chunks)
        self.fns: dict[int, Callable[[Any], Any]] = {}
        self.out: dict[int, Chunk] = {}  # submitted, not reported
        self.submitted: list[tuple[float, list[Any]]] = []  # (clock, items) of each submit
        self.cancelled: list[int] = []
        self.most_out = 0
        self.polls = 0
        self.woken = False  # wake() was called: the next poll returns without waiting

    def start(self) -> None:
        pass

    def register(self, fn: Callable[[Any], Any]) -> int:
        self.fns[len(self.fns)] = fn
        return len(self.fns) - 1

    def capacity(self) -> int:
        return self._capacity

    def submit(self, chunk: Chunk) -> None:
        self.out[chunk.id] = chunk
        self.submitted.append((self.clock(), list(chunk.items)))
        self.most_out = max(self.most_out, len(self.out))

    def poll(self, timeout: float) -> list[Event]:
        self.polls += 1
        assert self.polls < 10_000, "the engine never finished"
        events: list[Event] = []
        for chunk in self.finish_order(list(self.out.values())):
            what = self.plan(chunk)
            if what is RUNNING:
                continue
            del self.out[chunk.id]
            if isinstance(what, Lost):
                events.append(what)
            else:
                result = run_chunk(self.fns[chunk.fn_id], chunk.id, chunk.items, False, None)
                events.append(Done(chunk.id, result))
        if not events and not self.woken:
            self.clock.now += timeout
        self.woken = False
        return events

    def wake(self) -> None:
        self.woken = True

    def cancel(self, chunk_ids: Iterable[int]) -> None:
        for chunk_id in chunk_ids:
            self.cancelled.append(chunk_id)
            self.out.pop(chunk_id, None)

    def close(self, kill: bool = False) -> None:
        self.out.clear()


class SupervisedFake(FakeBackend, Supervised):
    """Says each chunk's first item has run since it was submitted; ``kill`` loses the chunk
    as a timeout at that item."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started: dict[int, float] = {}
        self.killed: list[tuple[list[Any], str]] = []

    def submit(self, chunk: Chunk) -> None:
        super().submit(chunk)
        self.started[chunk.id] = self.clock()

    def running(self, chunk_id: int) -> tuple[int, float] | None:
        return (0, self.started[chunk_id]) if chunk_id in self.out else None

    def kill(self, chunk_id: int, reason: str) -> None:
        chunk = self.out[chunk_id]
        self.killed.append((list(chunk.items), reason))
        plan = self.plan
        self.plan = lambda c: Lost(c.id, "timeout", reason, 0) if c is chunk else plan(c)
