"""per_key=(key_fn, n): at most n items of one key in flight, and a full key never holds
back the others. The feeder's rules on the scripted backend, then on real threads."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from typing import Any

import pytest

import gilwise
from fake_backend import RUNNING, FakeBackend, FakeClock
from gilwise._engine.loop import Engine
from gilwise._options import Options


def host(item: str) -> str:
    return item.split("/")[0]


def fetch(item: str) -> str:
    return item.upper()


class CountingFake(FakeBackend):
    """Records the most chunks of each key out at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.most_per_key: Counter[str] = Counter()

    def submit(self, chunk: Any) -> None:
        super().submit(chunk)
        out = Counter(host(c.items[0]) for c in self.out.values())
        for key, count in out.items():
            self.most_per_key[key] = max(self.most_per_key[key], count)


def run(backend: FakeBackend, items: list[str]) -> list[Any]:
    engine = Engine(backend, fetch, items, backend.options, clock=backend.clock)
    out: list[Any] = []
    for segment in engine.segments():
        out += [segment.failures[p].exc_type if p in segment.failures else v
                for p, v in enumerate(segment.values)]
    return out


def fake(limit: int, capacity: int = 4, plan: Any = None, **options: Any) -> CountingFake:
    opts = Options(workers=capacity, per_key=(host, limit), **options)
    return CountingFake(opts, FakeClock(), capacity, plan)


def slow_host(name: str, until: float) -> Any:
    """A plan: the chunks of host ``name`` run on until the clock reaches ``until``."""
    def plan(chunk: Any) -> Any:
        if host(chunk.items[0]) == name and chunk.segment is not None:
            return "run" if plan.clock() >= until else RUNNING
        return "run"
    return plan


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_never_more_than_the_limit_of_one_key_in_flight(limit):
    items = [f"a/{i}" for i in range(10)] + [f"b/{i}" for i in range(10)]
    backend = fake(limit, capacity=8)
    assert run(backend, items) == [item.upper() for item in items]
    assert max(backend.most_per_key.values()) == limit


def test_a_full_key_does_not_hold_back_other_keys_and_order_is_kept():
    items = [f"slow/{i}" for i in range(6)] + [f"fast/{i}" for i in range(6)]
    plan = slow_host("slow", until=101.0)
    backend = fake(1, capacity=4, plan=plan)
    plan.clock = backend.clock
    assert run(backend, items) == [item.upper() for item in items]
    before_the_slow_one_ends = [items[0] for at, items in backend.submitted if at < 101.0]
    # one slow item, then every fast one while it runs: no worker waits on the slow host
    assert before_the_slow_one_ends == ["slow/0", *(f"fast/{i}" for i in range(6))]
    assert backend.most_per_key["slow"] == 1


def test_unordered_results_are_complete_under_per_key():
    items = [f"h{i % 3}/{i}" for i in range(30)]
    backend = fake(2, capacity=4, ordered=False)
    assert sorted(run(backend, items)) == sorted(item.upper() for item in items)
    assert max(backend.most_per_key.values()) == 2


def test_a_failing_key_function_fails_only_its_item():
    def key(item: str) -> str:
        if item == "bad":
            raise ValueError("no host in 'bad'")
        return host(item)

    opts = Options(workers=2, per_key=(key, 1))
    backend = FakeBackend(opts, FakeClock(), 2)
    assert run(backend, ["a/1", "bad", "b/1"]) == ["A/1", "ValueError", "B/1"]


@pytest.mark.parametrize("per_key, message", [
    ((host,), "must be a (key function, limit) pair or a gilwise.PerKey"),
    (("host", 2), "must be a (key function, limit) pair"),
    ((host, 0), "per_key's limit 0 must be a positive integer"),
    ((host, True), "per_key's limit True must be a positive integer"),
])
def test_bad_per_key_is_named_in_the_error(per_key, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        gilwise.map(fetch, ["a/1"], per_key=per_key)


def paced(items: list[str], fn: Any, per_key: Any, capacity: int = 4) -> FakeBackend:
    """Run ``fn`` over ``items`` under ``per_key`` (a PerKey on the backend's clock)."""
    backend = FakeBackend(Options(workers=capacity, per_key=per_key), per_key.clock, capacity)
    engine = Engine(backend, fn, items, backend.options, clock=backend.clock)
    assert [v for s in engine.segments() for v in s.values] == [fn(i) for i in items]
    return backend


def starts(backend: FakeBackend, key: str) -> list[float]:
    return [at for at, items in backend.submitted if host(items[0]) == key]


def test_an_interval_spaces_one_keys_starts_and_other_keys_go_meanwhile():
    per_key = gilwise.PerKey(host, 8, interval=2.0, clock=FakeClock())
    items = [f"a/{i}" for i in range(3)] + [f"b/{i}" for i in range(3)]
    backend = paced(items, fetch, per_key)
    assert [round(t - 100, 6) for t in starts(backend, "a")] == [0.0, 2.0, 4.0]
    assert [round(t - 100, 6) for t in starts(backend, "b")] == [0.0, 2.0, 4.0]


def test_defer_from_the_function_holds_back_only_its_key():
    clock = FakeClock()
    per_key = gilwise.PerKey(host, 8, clock=clock)

    def work(item: str) -> str:
        if item == "a/0":  # as a 429 with Retry-After: 5 would
            per_key.defer("a", 5.0)
        return item.upper()

    items = ["a/0", "a/1", "a/2", "b/0", "b/1"]
    backend = FakeBackend(Options(workers=1, per_key=per_key), clock, 1)
    engine = Engine(backend, work, items, backend.options, clock=clock)
    assert [v for s in engine.segments() for v in s.values] == [i.upper() for i in items]
    order = [(round(at - 100, 6), items[0]) for at, items in backend.submitted]
    # one worker: b's items run while a waits out its 5 s, then a's go
    assert order == [(0.0, "a/0"), (0.0, "b/0"), (0.0, "b/1"), (5.0, "a/1"), (5.0, "a/2")]


def test_set_gives_one_key_its_own_limit_and_interval_while_the_map_runs():
    per_key = gilwise.PerKey(host, 1, clock=FakeClock())

    def work(item: str) -> str:
        if item == "a/0":  # as a robots.txt read with the first page would
            per_key.set("a", limit=3, interval=1.0)
        return item.upper()

    backend = paced([f"a/{i}" for i in range(4)], work, per_key, capacity=4)
    assert [round(t - 100, 6) for t in starts(backend, "a")] == [0.0, 0.0, 1.0, 2.0]
    assert (per_key.limit_of("a"), per_key.limit_of("b")) == (3, 1)


@pytest.mark.parametrize("args, message", [
    ((host, 0), "per_key's limit 0 must be a positive integer"),
    ((host, 2, -1.0), "per_key's interval -1.0 must be seconds >= 0"),
    (("host", 2), "PerKey's key 'host' must be a function of an item"),
])
def test_a_bad_per_key_object_is_named_in_the_error(args, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        gilwise.PerKey(*args)


# ---------------------------------------------------------------- real threads
def test_threads_never_run_more_than_the_limit_of_one_key_at_once():
    lock = threading.Lock()
    now: Counter[str] = Counter()
    most: Counter[str] = Counter()

    def work(item: str) -> str:
        key = host(item)
        with lock:
            now[key] += 1
            most[key] = max(most[key], now[key])
        time.sleep(0.005)
        with lock:
            now[key] -= 1
        return item

    items = [f"h{i % 3}/{i}" for i in range(90)]
    out = list(gilwise.map(work, items, mode="threads", workers=8, per_key=(host, 2)))
    assert out == items
    assert max(most.values()) <= 2


def test_threads_run_other_keys_while_one_key_waits():
    """The slow host's items wait until every fast item is done: they can finish only if
    the feeder sent the fast items while the slow host's one slot was taken."""
    fast_done = threading.Event()
    lock = threading.Lock()
    done: list[str] = []
    fast = [f"fast/{i}" for i in range(12)]

    def work(item: str) -> bool:
        if host(item) == "slow":
            return fast_done.wait(20)
        with lock:
            done.append(item)
            if len(done) == len(fast):
                fast_done.set()
        return True

    items = ["slow/0", "slow/1", "slow/2", *fast]
    out = list(gilwise.map(work, items, mode="threads", workers=2, chunksize=1,
                           per_key=(host, 1)))
    assert out == [True] * len(items)


# ------------------------------------------------------- auto mode's first items keep it too
INPUTS = pytest.mark.parametrize("as_input", [list, iter], ids=["list", "generator"])


@INPUTS
def test_auto_modes_first_items_keep_a_keys_interval(as_input):
    lock = threading.Lock()
    began: dict[str, list[float]] = {}

    def work(item: str) -> str:
        with lock:
            began.setdefault(host(item), []).append(time.monotonic())
        return item

    items = [f"a/{i}" for i in range(4)] + [f"b/{i}" for i in range(2)]
    per_key = gilwise.PerKey(host, 8, interval=0.15)
    assert list(gilwise.map(work, as_input(items), per_key=per_key)) == items
    for key, times in began.items():
        gaps = [round(b - a, 3) for a, b in zip(times, times[1:])]
        assert min(gaps) >= 0.14, f"{key}'s starts {gaps} s apart"


@INPUTS
def test_auto_modes_first_items_leave_an_item_whose_key_fails_to_fail(as_input):
    def key(item: str) -> str:
        if item == "bad":
            raise ValueError("no host in 'bad'")
        return host(item)

    out = list(gilwise.map(fetch, as_input(["a/1", "bad", "b/1"]), per_key=(key, 1),
                           on_error="return"))
    assert out[0] == "A/1" and out[2] == "B/1"
    assert isinstance(out[1], gilwise.Failure) and out[1].exc_type == "ValueError", out[1]
