"""The worker pools' shared books (backends/_pool.py), on real threads: where a chunk may
queue, and what becomes of the chunks a lost worker held."""

from __future__ import annotations

import threading
import time
from typing import Any

from gilwise._chunk import Chunk
from gilwise._options import Options
from gilwise.backends._base import Done, Lost
from gilwise.backends.threads import ThreadBackend

GATE = threading.Event()


def hang_on_gate(x: Any) -> Any:
    if x == "hang":
        GATE.wait(10)
    return x


def chunk(chunk_id: int, fn_id: int, items: list[Any]) -> Chunk:
    return Chunk(chunk_id, fn_id, items, tracked=True, positions=range(len(items)))


def collect(backend: ThreadBackend, count: int) -> list[Any]:
    events: list[Any] = []
    deadline = time.monotonic() + 5
    while len(events) < count and time.monotonic() < deadline:
        events += backend.poll(0.05)
    return events


def test_a_chunk_queues_behind_a_running_one_only_on_a_worker_whose_chunks_are_quick():
    backend = ThreadBackend(Options(workers=2))
    backend.start()
    try:
        fn_id = backend.register(hang_on_gate)
        assert backend.capacity() == 2  # unmeasured workers: one chunk each
        for i in range(2):
            backend.submit(chunk(i, fn_id, [i]))
        assert [type(e) for e in collect(backend, 2)] == [Done, Done]
        assert backend.capacity() == 4  # quick now: one running, one queued behind, each
    finally:
        backend.close()


def test_chunks_queued_behind_a_killed_workers_chunk_run_on_its_replacement():
    GATE.clear()
    backend = ThreadBackend(Options(workers=1))
    backend.start()
    try:
        fn_id = backend.register(hang_on_gate)
        backend.submit(chunk(1, fn_id, [1]))
        assert collect(backend, 1)[0].chunk_id == 1  # quick: the worker may hold two now
        backend.submit(chunk(2, fn_id, [0, "hang"]))
        backend.submit(chunk(3, fn_id, [3]))  # queued behind chunk 2
        deadline = time.monotonic() + 5
        while (backend.running(2) or (0,))[0] != 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        backend.kill(2, "task ran too long")
        events = collect(backend, 2)
        assert events[0] == Lost(2, "timeout", "task ran too long (its thread is abandoned)", 1)
        assert isinstance(events[1], Done) and events[1].chunk_id == 3
        assert events[1].result.values == [3]
    finally:
        GATE.set()
        backend.close()
