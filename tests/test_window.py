"""Ordered results held behind one slow item do not stop the other items from running: on
real threads, the slow item waits until every other item has started (or a long safety
limit), and counts how many did. Nothing here is timed."""

from __future__ import annotations

import threading

import gilwise

ITEMS = 500  # chunksize=1: the window starts at 64 items


def test_a_slow_first_item_does_not_hold_back_the_others_on_threads():
    lock = threading.Lock()
    started = [0]
    all_started = threading.Event()

    def task(x: int) -> int:
        if x == 0:
            # the others finish while this one runs; 60 s is only a safety limit
            all_started.wait(60)
            with lock:
                return started[0]
        with lock:
            started[0] += 1
            if started[0] == ITEMS - 1:
                all_started.set()
        return x

    results = list(gilwise.map(task, range(ITEMS), mode="threads", workers=4, chunksize=1))
    assert results[0] == ITEMS - 1  # every other item ran while item 0 held the head
    assert results[1:] == list(range(1, ITEMS))
