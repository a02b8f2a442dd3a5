"""The engine driven from outside: a loop of the caller's own calls ``step()``, and another
thread hands it work through an open Frontier, whose ``add`` wakes the loop's wait. This is
the shape of the coming Executor (a driver thread fed by ``submit``) and of ``amap`` (an
event loop)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from fake_backend import FakeBackend, FakeClock
from gilwise._engine import Engine
from gilwise._options import Options
from gilwise.backends import make_backend
from gilwise.frontier import Frontier

#: long enough that a loop relying on the wait running out (not on the wake) takes a while
LONG_WAIT = 30.0


def plus_one(x: int) -> int:
    return x + 1


def drive(engine: Engine, wait: float) -> list[int]:
    """Step ``engine`` until it is over; every value, in the order the steps gave them."""
    values: list[int] = []
    while not engine.over:
        for segment in engine.step(wait):
            values.extend(segment.values)
    return values


def test_step_with_no_wait_never_blocks_and_gives_every_result_in_order():
    clock = FakeClock()
    backend = FakeBackend(Options(workers=2, chunksize=3), clock, capacity=2)
    engine = Engine(backend, plus_one, list(range(20)), backend.options, clock=clock)
    assert drive(engine, 0.0) == list(range(1, 21))
    assert clock.now == 100.0  # no step waited on the fake clock
    assert engine.step(0.0) == [] and engine.over


def test_a_wake_ends_the_wait_of_the_next_step_on_the_fake_backend():
    clock = FakeClock()
    backend = FakeBackend(Options(workers=2), clock, capacity=2)
    frontier = Frontier(until_closed=True)
    engine = Engine(backend, plus_one, frontier, backend.options, clock=clock)
    assert engine.step(LONG_WAIT) == []  # nothing to do: the wait runs out
    assert clock.now == 100.0 + LONG_WAIT and not engine.over
    engine.wake()
    assert engine.step(LONG_WAIT) == [] and clock.now == 100.0 + LONG_WAIT  # no wait
    frontier.add(1)
    assert backend.woken  # the frontier woke the engine's backend
    values = [v for s in engine.step(LONG_WAIT) for v in s.values]
    assert values == [2] and clock.now == 100.0 + LONG_WAIT
    frontier.close()
    assert drive(engine, LONG_WAIT) == [] and engine.over


def test_an_open_frontier_keeps_the_engine_going_until_it_is_closed():
    clock = FakeClock()
    backend = FakeBackend(Options(workers=2), clock, capacity=2)
    frontier = Frontier([1, 2], until_closed=True)
    engine = Engine(backend, plus_one, frontier, backend.options, clock=clock)
    got = [v for _ in range(5) for s in engine.step(0.0) for v in s.values]
    assert got == [2, 3] and not engine.over  # empty, but open: not over
    frontier.add(3)
    frontier.close()
    assert drive(engine, 0.0) == [4] and engine.over
    with pytest.raises(RuntimeError, match="closed"):
        frontier.add(4)


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_driver_thread_is_woken_by_work_added_from_another_thread(mode):
    """A driver thread steps the engine with a long wait; the test's thread adds items one
    at a time, each after the last result came back: without the wake, each would wait out
    the step's 30 s."""
    options = Options(mode=mode, workers=2, ordered=False)
    backend = make_backend(options)
    backend.start()
    frontier = Frontier(until_closed=True)
    results: list[Any] = []
    arrived = threading.Condition()
    try:
        engine = Engine(backend, plus_one, frontier, options)

        def driver() -> None:
            while not engine.over:
                for segment in engine.step(LONG_WAIT):
                    with arrived:
                        results.extend(segment.values)
                        arrived.notify_all()

        thread = threading.Thread(target=driver)
        thread.start()
        started = time.monotonic()
        for n in range(5):
            frontier.add(n)
            with arrived:
                assert arrived.wait_for(lambda n=n: len(results) == n + 1, timeout=20)
        frontier.close()
        thread.join(20)
        assert not thread.is_alive() and engine.over
        assert sorted(results) == [1, 2, 3, 4, 5]
        # five waits of the full 30 s would take 150 s: each add woke the driver instead
        assert time.monotonic() - started < LONG_WAIT
    finally:
        backend.close(kill=True)


def test_stop_cancels_what_is_out_and_ends_the_batch():
    clock = FakeClock()
    backend = FakeBackend(Options(workers=2), clock, capacity=4, plan=lambda chunk: None)
    engine = Engine(backend, plus_one, list(range(8)), backend.options, clock=clock)
    assert engine.step(0.0) == []  # sent, all still running
    out = list(backend.out)
    engine.stop()
    assert engine.over and sorted(backend.cancelled) == sorted(out) and engine.step(0.0) == []


def test_send_hands_an_added_item_to_the_backend_without_collecting():
    """``send`` (an executor's ``submit``): what was added goes out at once where the backend
    has room; nothing is collected until the next step, and nothing goes out without room."""
    clock = FakeClock()
    backend = FakeBackend(Options(workers=2, chunksize=1), clock, capacity=2)
    frontier = Frontier(until_closed=True)
    engine = Engine(backend, plus_one, frontier, backend.options, clock=clock)
    frontier.add(1)
    engine.send()
    assert [items for _, items in backend.submitted] == [[1]] and backend.polls == 0
    frontier.add(2)
    frontier.add(3)
    engine.send()  # room for one more: 2 goes, 3 waits
    assert [items for _, items in backend.submitted] == [[1], [2]] and backend.polls == 0
    values = sorted(v for _ in range(3) for s in engine.step(0.0) for v in s.values)
    assert values == [2, 3, 4] and backend.polls > 0
    frontier.close()
    assert drive(engine, 0.0) == [] and engine.over
