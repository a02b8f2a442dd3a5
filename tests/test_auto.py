"""Auto mode decides by measuring: CPU against wall time, and a Python thread beside a task.

Decisions come from timings, and this machine is shared: a test measures again (up to three
times) before it fails, and its failure lists every decision seen.
"""

from __future__ import annotations

import hashlib
import threading
import time

import pytest

import gilwise
from _work import spin  # pure Python: holds the GIL (~20 ms for 200,000)
from gilwise.auto import Decision, gil_enabled

BUFFER = b"x" * (16 * 1024 * 1024)


def wait(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def digest(_: int) -> str:
    """hashlib on a large buffer releases the GIL while it hashes."""
    return hashlib.sha256(BUFFER).hexdigest()[:8]


def explain_until(fn, items, wanted) -> Decision:
    """The first decision that ``wanted(decision)`` accepts, out of three measurements."""
    seen = []
    for _ in range(3):
        decision = gilwise.explain(fn, items)
        if wanted(decision):
            return decision
        seen.append(str(decision))
    pytest.fail("auto decided, three times:\n" + "\n".join(seen))


def test_io_bound_work_goes_to_threads_with_enough_of_them():
    decision = gilwise.explain(wait, [0.02] * 10)
    assert decision.mode == "threads"
    assert decision.workers >= 8  # enough to cover the wait, not one per core
    assert "I/O-bound" in decision.reason
    assert decision.figures["cpu_wall"] < 0.5


def test_pure_python_cpu_work_goes_to_processes():
    if not gil_enabled():  # a free-threaded build runs it in parallel threads
        assert gilwise.explain(spin, [200_000] * 10).mode == "threads"
        return
    decision = explain_until(spin, [200_000] * 10, lambda d: d.mode == "processes")
    assert "holds the GIL" in decision.reason
    assert decision.figures["ticker_share"] < 0.7


def test_gil_releasing_cpu_work_stays_in_threads():
    decision = explain_until(digest, range(10), lambda d: d.mode == "threads")
    if not gil_enabled():
        assert "free-threaded" in decision.reason
        return
    assert "releases the GIL" in decision.reason
    assert decision.figures["cpu_wall"] > 0.5


def test_work_that_cannot_be_pickled_stays_in_threads_and_says_why():
    lock = threading.Lock()

    def spin_holding_a_lock(n):
        with lock:
            pass
        return spin(n)

    decision = explain_until(spin_holding_a_lock, [200_000] * 10,
                             lambda d: "cannot go" in d.reason or "free-threaded" in d.reason)
    assert decision.mode == "threads"
    if not gil_enabled():  # threads are the right answer there anyway
        assert "free-threaded" in decision.reason
        return
    assert "cannot go to another process" in decision.reason
    assert "the function" in decision.reason


def test_items_run_to_decide_are_real_results_and_never_run_twice():
    calls = []
    lock = threading.Lock()

    def counted(x):
        with lock:
            calls.append(x)
        time.sleep(0.01)
        return x * 2

    results = gilwise.map(counted, range(30))
    assert list(results) == [x * 2 for x in range(30)]
    assert sorted(calls) == list(range(30))
    assert results.info.mode == "threads"


def test_decision_text_names_mode_workers_and_figures():
    decision = gilwise.explain(spin, [200_000] * 10)
    text = str(decision)
    assert text.startswith(f"{decision.mode}×{decision.workers}: ")
    assert "% of the time" in text  # the measured figure behind the choice


def test_an_item_still_running_in_the_probe_does_not_hold_back_the_rest():
    lock = threading.Lock()  # also keeps the work in threads: a lock cannot be pickled
    slow_item: list[int] = []
    started = time.monotonic()

    def work(x):
        with lock:  # the first item to start after 5 ms, inside the probe window, is slow
            slow = not slow_item and time.monotonic() - started > 0.005
            if slow:
                slow_item.append(x)
        if slow:
            time.sleep(2)
        return x

    order = list(gilwise.map(work, range(5000), ordered=False))
    assert sorted(order) == list(range(5000))
    # the items after the probed ones ran while the slow one slept, not after it
    assert order.index(4999) < order.index(slow_item[0])
