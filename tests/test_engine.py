"""The engine's rules, on a scripted backend and a fake clock: no worker, no sleep.

Blame and split after a lost chunk, retries and their backoff, timeouts with and without
supervision, order, and the bound on chunks in flight.
"""

from __future__ import annotations

from typing import Any

import pytest

from fake_backend import RUNNING, FakeBackend, FakeClock, SupervisedFake
from gilwise._engine.loop import Engine
from gilwise._options import Options
from gilwise.backends._base import Lost


def plus_one(x: int) -> int:
    return x + 1


def run(backend: FakeBackend, items: Any, fn: Any = plus_one, **options: Any) -> list[Any]:
    """Every item's value, or the exception type name of its failure, in input order."""
    engine = Engine(backend, fn, items, backend.options, clock=backend.clock)
    out: dict[int, Any] = {}
    for segment in engine.segments():
        for pos, value in enumerate(segment.values):
            failure = segment.failures.get(pos)
            out[segment.start + pos] = value if failure is None else failure.exc_type
    return [out[i] for i in sorted(out)]


def fake(kind: type[FakeBackend] = FakeBackend, capacity: int = 4, plan: Any = None,
         finish_order: Any = None, **options: Any) -> FakeBackend:
    return kind(Options(workers=2, **options), FakeClock(), capacity, plan, finish_order)


def sent(backend: FakeBackend) -> list[list[Any]]:
    return [items for _, items in backend.submitted]


def lose_once(item: int, position: int | None, kind: str = "died") -> Any:
    """A plan losing the first chunk holding ``item`` (``position``: the item it names)."""
    lost: list[int] = []

    def plan(chunk: Any) -> Any:
        if item in chunk.items and not lost:
            lost.append(chunk.id)
            return Lost(chunk.id, kind, "worker 1 was killed by SIGKILL", position)
        return "run"

    return plan


def test_a_chunk_lost_at_a_known_position_fails_that_item_alone_and_resends_the_rest():
    backend = fake(plan=lose_once(5, position=1), chunksize=4)
    assert run(backend, range(8)) == [1, 2, 3, 4, 5, "WorkerDied", 7, 8]
    assert sent(backend) == [[0, 1, 2, 3], [4, 5, 6, 7], [4, 6, 7]]


def test_a_tracked_chunk_lost_without_position_is_resent_whole_then_split():
    def plan(chunk: Any) -> Any:
        if 5 in chunk.items:  # whatever holds item 5 is lost, no item named
            return Lost(chunk.id, "died", "worker 1 exited with code 3", None)
        return "run"

    backend = fake(plan=plan, chunksize=4, timeout=1000.0)  # a timeout: every chunk tracked
    assert run(backend, range(8)) == [1, 2, 3, 4, 5, "WorkerDied", 7, 8]
    whole = [4, 5, 6, 7]
    assert sent(backend)[1:] == [whole, whole, whole, [4], [5], [6], [7], [5], [5]]


def test_an_untracked_chunk_lost_without_position_is_split_at_once():
    backend = fake(plan=lose_once(5, position=None), chunksize=4)
    assert run(backend, range(8)) == [1, 2, 3, 4, 5, 6, 7, 8]  # item 5 ran fine alone
    assert sent(backend)[1:] == [[4, 5, 6, 7], [4], [5], [6], [7]]


def test_a_retry_waits_its_backoff_on_the_clock():
    attempts: list[int] = []

    def fails_once_on_three(x: int) -> int:
        if x == 3:
            attempts.append(x)
            if len(attempts) == 1:
                raise ConnectionError("flaky")
        return x

    backend = fake(chunksize=1, retries=1, backoff=10.0)
    assert run(backend, range(5), fails_once_on_three) == [0, 1, 2, 3, 4]
    times = [when for when, items in backend.submitted if items == [3]]
    assert len(times) == 2
    assert 5.0 <= times[1] - times[0] <= 15.0  # backoff x jitter in [0.5, 1.5]


def last_submitted_first(chunks: list[Any]) -> list[Any]:
    return chunks[-1:]  # one chunk a poll, the latest


def test_results_arriving_out_of_order_are_yielded_in_input_order_when_ordered():
    backend = fake(finish_order=last_submitted_first, chunksize=2, ordered=True)
    engine = Engine(backend, plus_one, range(8), backend.options, clock=backend.clock)
    assert [s.start for s in engine.segments()] == [0, 2, 4, 6]


def test_results_arriving_out_of_order_are_yielded_at_once_when_unordered():
    backend = fake(finish_order=last_submitted_first, chunksize=2, ordered=False)
    engine = Engine(backend, plus_one, range(8), backend.options, clock=backend.clock)
    assert [s.start for s in engine.segments()] == [6, 4, 2, 0]


def test_a_timeout_on_a_supervised_backend_kills_the_chunk_and_fails_its_item():
    backend = fake(SupervisedFake, plan=lambda c: RUNNING if list(c.items) == [5] else "run",
                   chunksize=1, timeout=2.0)
    assert run(backend, range(8)) == [1, 2, 3, 4, 5, "TaskTimeout", 7, 8]
    assert backend.killed == [([5], "task ran longer than the timeout of 2.0 s")]


def test_without_supervision_a_chunk_overstaying_the_timeout_is_given_up():
    backend = fake(plan=lambda c: RUNNING if 5 in c.items else "run", chunksize=4,
                   timeout=2.0)
    assert run(backend, range(8)) == [1, 2, 3, 4, 5, "TaskTimeout", 7, 8]
    assert sent(backend)[1:] == [[4, 5, 6, 7], [4], [5], [6], [7]]  # split to find it
    assert len(backend.cancelled) == 2  # the whole chunk, then item 5 alone


@pytest.mark.parametrize("capacity", [1, 3])
def test_never_more_chunks_in_flight_than_the_backend_has_room_for(capacity):
    backend = fake(capacity=capacity, finish_order=lambda chunks: chunks[:1], chunksize=1)
    assert run(backend, range(50)) == list(range(1, 51))
    assert backend.most_out == capacity


def _sent_while_head_ran(items: int, **options: Any) -> tuple[list[Any], int]:
    """Run ``items`` with item 0 running 10 s of fake time: the results, and how many items
    were sent meanwhile."""
    clock = FakeClock()
    release = clock.now + 10.0

    def plan(chunk: Any) -> Any:
        return RUNNING if list(chunk.items) == [0] and clock() < release else "run"

    backend = FakeBackend(Options(workers=4, chunksize=1, **options), clock, 4, plan)
    got = run(backend, range(items))
    return got, sum(1 for when, _ in backend.submitted if when < release)


def test_ordered_results_waiting_on_a_slow_head_do_not_stop_the_other_items_running():
    # 400 items of which the first runs "10 s": the 399 others all run meanwhile, though the
    # base window is 64 items (ThreadPoolExecutor.map runs them all too)
    got, sent_meanwhile = _sent_while_head_ran(400)
    assert got == list(range(1, 401))
    assert sent_meanwhile == 400


def test_the_window_grows_only_so_far_and_max_in_flight_is_a_hard_cap():
    from gilwise._engine.feed import WINDOW_GROWTH

    got, sent_meanwhile = _sent_while_head_ran(5000)
    assert got == list(range(1, 5001))
    assert 64 < sent_meanwhile <= 64 * WINDOW_GROWTH  # bounded memory of held results
    _, capped = _sent_while_head_ran(400, max_in_flight=50)
    assert capped == 50
