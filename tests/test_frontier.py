"""gilwise.Frontier: a map over items that its own results add to, ending when nothing
is queued and nothing is in flight."""

from __future__ import annotations

import pytest

import gilwise
from fake_backend import FakeBackend, FakeClock
from gilwise._engine.loop import Engine
from gilwise._options import Options


def children(n: int) -> list[int]:
    """A tree: node n has children 2n+1 and 2n+2 below 31."""
    return [c for c in (2 * n + 1, 2 * n + 2) if c < 31]


def test_the_engine_runs_items_added_by_the_consumer_and_then_ends():
    frontier = gilwise.Frontier([0])
    backend = FakeBackend(Options(workers=2, ordered=False), FakeClock(), 2)
    engine = Engine(backend, children, frontier, backend.options, clock=backend.clock)
    ran = []
    for segment in engine.segments():
        for item, value in zip(segment.items, segment.values):
            ran.append(item)
            frontier.extend(value)
    assert sorted(ran) == list(range(31))


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_a_breadth_first_walk_over_a_frontier_visits_each_node_once(mode):
    frontier = gilwise.Frontier([0, 0], unique=True)
    seen = []
    for node, kids in zip_results(frontier, mode):
        seen.append(node)
        frontier.extend([*kids, 0])  # 0 again: dropped, it was added before
    assert sorted(seen) == list(range(31))
    assert frontier.added == 31 and frontier.pending == 0


def with_item(n: int) -> tuple[int, list[int]]:
    return n, children(n)


def zip_results(frontier: gilwise.Frontier, mode: str):
    return gilwise.map(with_item, frontier, mode=mode, workers=2, ordered=False)


def test_a_frontier_with_per_key_and_a_journal_resumes(tmp_path):
    journal = tmp_path / "j.db"
    runs = []
    for _ in range(2):
        frontier = gilwise.Frontier([0], unique=True)
        results = gilwise.map(with_item, frontier, mode="threads", workers=3, ordered=False,
                              per_key=(lambda n: n % 2, 1), journal=journal, key=str)
        for _node, kids in results:
            frontier.extend(kids)
        runs.append(results.info)
    assert runs[1].from_journal == 31


def test_auto_mode_over_a_frontier_is_a_clear_error():
    with pytest.raises(ValueError, match="a Frontier needs mode='threads' or 'processes'"):
        gilwise.map(children, gilwise.Frontier([0]))
