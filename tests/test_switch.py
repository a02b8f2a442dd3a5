"""Work that changes nature mid-batch moves to the right mode (auto mode only), without
running any item twice and without breaking order.

The engine's move is tested on scripted backends and a fake clock; the watch's judgement on
fake clocks; then real batches whose items first wait and then compute, or the reverse.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

import gilwise
from _work import spin
from fake_backend import RUNNING, FakeBackend, FakeClock
from gilwise._chunk import ChunkResult
from gilwise._engine.loop import Engine
from gilwise._options import Options
from gilwise.auto.decide import gil_enabled
from gilwise.auto.watch import CHECK_TIMES, MOST_CHECKS, WINDOW_SECONDS, ModeChange, Watch
from gilwise.backends._base import Lost

AGREE = 2  # windows of 0.1 s in a row that call for a move before it is made


def plus_one(x: int) -> int:
    return x + 1


class MoveAfter:
    """A pilot that moves the engine to ``target`` once ``chunks`` chunks came back."""

    def __init__(self, target: FakeBackend, chunks: int) -> None:
        self.target, self.chunks, self.seen, self.moved = target, chunks, 0, False
        self.unsent: list[bool] = []  # what the engine said at each tick

    def done(self, result: ChunkResult) -> None:
        self.seen += 1

    def tick(self, unsent: bool, completed: int, per_item: float | None) -> Any:
        self.unsent.append(unsent)
        if self.moved or self.seen < self.chunks:
            return None
        self.moved = True
        return self.target


def holds_back(items: set[int], polls: int) -> Any:
    """A plan keeping the chunks that hold any of ``items`` running for ``polls`` polls."""
    count = {"polls": 0}

    def plan(chunk: Any) -> Any:
        count["polls"] += 1
        return RUNNING if items & set(chunk.items) and count["polls"] < polls else "run"

    return plan


def engine_moving(old: FakeBackend, new: FakeBackend, after: int) -> list[int]:
    engine = Engine(old, plus_one, range(40), old.options, clock=old.clock,
                    pilot=MoveAfter(new, after))
    return [v for segment in engine.segments() for v in segment.values]


def fakes(plan: Any = None) -> tuple[FakeBackend, FakeBackend]:
    clock = FakeClock()
    old = FakeBackend(Options(workers=2, chunksize=2), clock, 4, plan)
    return old, FakeBackend(Options(workers=2, chunksize=2), clock, 4)


def sent_items(backend: FakeBackend) -> list[int]:
    return [item for _, items in backend.submitted for item in items]


def test_after_a_move_new_chunks_go_to_the_new_backend_and_those_out_finish_on_the_old():
    old, new = fakes(plan=holds_back({6, 7}, polls=30))  # a chunk still out as it moves
    assert engine_moving(old, new, after=2) == list(range(1, 41))
    on_old, on_new = sent_items(old), sent_items(new)
    assert sorted(on_old + on_new) == list(range(40))  # every item sent once, in one place
    assert {6, 7} <= set(on_old) and on_new and max(on_old) < min(on_new)


def test_a_chunk_lost_on_the_old_backend_after_a_move_is_sent_to_the_new_one():
    lost: list[int] = []

    def plan(chunk: Any) -> Any:
        if 6 in chunk.items and not lost:
            lost.append(chunk.id)
            return Lost(chunk.id, "died", "worker 1 was killed by SIGKILL", None)
        return RUNNING if 6 in chunk.items else "run"

    old, new = fakes(plan)
    assert engine_moving(old, new, after=2) == list(range(1, 41))
    assert 6 in sent_items(new) and sent_items(old).count(6) == 1


def test_the_engine_tells_the_pilot_when_the_whole_batch_is_out():
    old, new = fakes(plan=holds_back({0}, polls=20))  # the first chunk holds the batch open
    old._capacity = 100  # room for every chunk at once
    pilot = MoveAfter(new, chunks=10**6)
    engine = Engine(old, plus_one, list(range(8)), old.options, clock=old.clock, pilot=pilot)
    assert [v for segment in engine.segments() for v in segment.values] == list(range(1, 9))
    assert pilot.unsent and not any(pilot.unsent)


# ---------------------------------------------------------------- the watch's judgement


class Clocks:
    """A wall clock and a CPU clock (this process's) moved by the test."""

    def __init__(self) -> None:
        self.wall, self.cpu = 100.0, 10.0

    def advance(self, seconds: float, cores: float) -> None:
        self.wall += seconds
        self.cpu += seconds * cores


def watch(mode: str, clocks: Clocks, moves: list, held: float = 0.5, workers: int = 64,
          checks: list | None = None, cpu_wall: float = 0.001, holds: list | None = None
          ) -> Watch:
    """A watch of a pool whose threads the probe found computing ``cpu_wall`` of the time."""

    def move(mode: str, workers: int, grows_to: int, why: str) -> str:
        moves.append((mode, workers, why))
        return f"{mode} backend"

    def gil_share() -> float:
        (checks if checks is not None else []).append(held)
        return held

    return Watch(mode, workers, cpu_wall, 2, move, lambda: True,
                 lambda demand: (64, 256), clock=lambda: clocks.wall,
                 cpu_clock=lambda: clocks.cpu, gil_share=gil_share, background=False,
                 hold=(holds if holds is not None else []).append)


def windows(w: Watch, clocks: Clocks, count: int, cores: float = 0.0,
            chunk: tuple[float, float] | None = None, unsent: bool = True) -> list[Any]:
    """``count`` windows in which the process computes ``cores`` cores' worth, and chunks
    of (wall, cpu) seconds come back; what the watch's ticks returned."""
    out = []
    for _ in range(count):
        for _ in range(4 if chunk else 0):
            w.done(ChunkResult(0, [None], {}, chunk[0], cpu=chunk[1]))  # type: ignore[index]
        clocks.advance(WINDOW_SECONDS * 1.01, cores)
        out.append(w.tick(unsent))
    return out


def test_a_thread_pool_that_starts_holding_the_gil_moves_to_processes_after_two_windows():
    clocks, moves = Clocks(), []
    w = watch("threads", clocks, moves, held=0.5)
    assert windows(w, clocks, 3, cores=0.01) == [None] * 3  # waiting, as expected
    assert windows(w, clocks, AGREE, cores=1.0) == [None] * (AGREE - 1) + ["processes backend"]
    (mode, workers, why), = moves
    assert (mode, workers) == ("processes", 2)
    assert "1.00 cores' worth" in why and "waited for the GIL 50%" in why


def test_the_pool_does_not_grow_while_a_move_to_processes_is_checked():
    clocks, moves, holds = Clocks(), [], []
    w = watch("threads", clocks, moves, held=0.02, holds=holds)
    windows(w, clocks, AGREE, cores=1.0)
    assert holds == [True, False] and moves == []


def test_nothing_moves_once_the_whole_batch_is_out():
    clocks, moves, checks = Clocks(), [], []
    w = watch("threads", clocks, moves, held=0.5, checks=checks)
    assert windows(w, clocks, 5, cores=1.0, unsent=False) == [None] * 5
    assert moves == [] and checks == []  # not even checked: a move would carry nothing


def test_one_busy_window_moves_nothing():
    clocks, moves = Clocks(), []
    w = watch("threads", clocks, moves)
    windows(w, clocks, 1, cores=1.0)
    windows(w, clocks, 3, cores=0.01)
    assert moves == []


def test_a_pool_computing_with_the_gil_released_stays_in_threads_checked_less_and_less():
    clocks, moves, checks = Clocks(), [], []
    w = watch("threads", clocks, moves, held=0.02, checks=checks)
    assert windows(w, clocks, 40, cores=1.0) == [None] * 40  # on a busy machine, say
    assert moves == [] and len(checks) == MOST_CHECKS * CHECK_TIMES  # each ticks thrice


def test_processes_whose_items_now_wait_move_to_threads():
    clocks, moves = Clocks(), []
    w = watch("processes", clocks, moves, workers=2)
    assert windows(w, clocks, 2, chunk=(0.05, 0.049)) == [None, None]  # computing
    assert windows(w, clocks, AGREE, chunk=(0.05, 0.0001))[-1] == "threads backend"
    (mode, workers, why), = moves
    assert (mode, workers) == ("threads", 64) and "computed 0% of their time" in why


def test_a_pool_computing_more_than_one_core_is_not_holding_the_gil_and_stays():
    clocks, moves, checks = Clocks(), [], []
    w = watch("threads", clocks, moves, checks=checks)
    assert windows(w, clocks, 6, cores=2.0) == [None] * 6
    assert moves == checks == []


def test_a_pool_of_one_thread_per_core_whose_items_now_wait_grows_to_an_io_pool():
    clocks, moves = Clocks(), []
    w = watch("threads", clocks, moves, workers=2, cpu_wall=1.0)
    windows(w, clocks, 2, cores=2.0)  # hashing with the GIL released
    windows(w, clocks, AGREE, cores=0.01)  # then waiting
    assert [m[:2] for m in moves] == [("threads", 64)]


def test_a_pool_its_steer_narrowed_is_left_to_the_steer():
    """A steer shrinks an I/O pool whose latency climbs: the watch must not widen it back."""
    clocks, moves = Clocks(), []
    w = watch("threads", clocks, moves, workers=2, cpu_wall=1.0)
    w.steered = True
    windows(w, clocks, AGREE + 2, cores=0.01)
    assert moves == []


# ---------------------------------------------------------------- real batches

RUNS_LOG = "runs.log"


def waits_or_computes(item: tuple[int, str, str]) -> tuple[int, int]:
    """Item (index, "wait" or "spin", log file): logs its run, returns (index, pid)."""
    index, kind, log = item
    with open(log, "a") as f:  # one short line per run, appended whole
        f.write(f"{index}\n")
    if kind == "wait":
        time.sleep(0.05)
    else:
        spin(200_000)  # ~20 ms of pure Python: holds the GIL
    return index, os.getpid()


def batch(log: str, first: str, then: str, n_first: int, n_then: int) -> list:
    kinds = [first] * n_first + [then] * n_then
    return [(i, kind, log) for i, kind in enumerate(kinds)]


# With the GIL off (a free-threaded build), threads compute in parallel: the batch stays in
# the threads asked for (workers=4), whatever its items do
GIL_ON = gil_enabled()
MOVES = [
    ("wait", "spin", [("threads", "processes")] if GIL_ON else []),
    ("spin", "wait", [("processes", "threads")] if GIL_ON else []),
    ("spin", "spin", []),  # computing in processes all along (the watch reads its CPU): stays
]


@pytest.mark.parametrize(("first", "then", "moves"), MOVES)
def test_a_batch_whose_items_change_nature_moves_and_yields_every_result_once_in_order(
        tmp_path, first, then, moves):
    log = str(tmp_path / RUNS_LOG)
    items = batch(log, first, then, 24 if first == "wait" else 12, 60)
    results = gilwise.map(waits_or_computes, items, workers=4, progress=False)
    values = list(results)
    assert [index for index, _ in values] == list(range(len(items)))
    with open(log) as f:
        runs = sorted(int(line) for line in f)
    assert runs == list(range(len(items)))  # each item ran once
    made = [c for c in results.info.changes if isinstance(c, ModeChange)]
    assert [(m.before.split("×")[0], m.after.split("×")[0]) for m in made] == moves, \
        results.info.changes
    here = [pid == os.getpid() for _, pid in values[-10:]]
    in_threads = moves[-1][1] == "threads" if moves else first == "wait" or not GIL_ON
    assert all(here) if in_threads else not any(here)  # the last ones ran there


def test_an_explicit_mode_never_moves(tmp_path):
    log = str(tmp_path / RUNS_LOG)
    results = gilwise.map(waits_or_computes, batch(log, "wait", "spin", 8, 20),
                          mode="threads", workers=4, progress=False)
    assert len(list(results)) == 28
    assert results.info.changes == [] and results.info.mode == "threads"
