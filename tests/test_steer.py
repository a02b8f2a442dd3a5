"""The steer sizing an I/O-bound pool as it runs, driven by a clock and figures the test sets:
the same steps every time (a real run's resizing is tested in test_auto.py)."""

from __future__ import annotations

import pytest

from gilwise.auto.steer import Change, Steer


class Server:
    """What a pool of ``n`` workers gets from a server that serves ``limit`` requests at once
    in ``alone`` seconds each and queues the rest: throughput, and latency as workers see it."""

    def __init__(self, limit: int, alone: float = 0.02) -> None:
        self.limit, self.alone = limit, alone

    def rate(self, n: int) -> float:
        return min(n, self.limit) / self.alone

    def latency(self, n: int) -> float:
        return self.alone * max(1.0, n / self.limit)


def steer_against(server: Server, start: int, cap: int, periods: int = 40,
                  alone_known: bool = True) -> tuple[Steer, list[Change]]:
    """A steer run for ``periods`` periods of 0.1 s against ``server``."""
    now, done, changes = [0.0], [0.0], []
    steer = Steer(start, cap, resize=lambda n: None, record=changes.append,
                  latency=lambda: server.latency(steer.size),
                  alone=lambda: server.alone if alone_known else 0.0, clock=lambda: now[0])
    for _ in range(periods):
        now[0] += 0.1
        done[0] += server.rate(steer.size) * 0.1
        steer.tick(int(done[0]))
    return steer, changes


def test_a_pool_doubles_while_throughput_rises_and_stops_at_its_cap():
    steer, changes = steer_against(Server(limit=10_000), start=4, cap=48)
    assert [(c.before, c.after) for c in changes] == [(4, 8), (8, 16), (16, 32), (32, 48)]
    assert steer.size == 48
    assert all("trying more" in c.why for c in changes)


def test_a_larger_pool_that_does_not_raise_throughput_is_undone_and_tried_less_often():
    steer, changes = steer_against(Server(limit=8), start=8, cap=64, periods=60)
    assert steer.size == 8
    assert {(c.before, c.after) for c in changes} == {(8, 16), (16, 8)}
    assert "going back" in changes[1].why
    tried_at = [c.seconds for c in changes if c.after == 16]
    gaps = [b - a for a, b in zip(tried_at, tried_at[1:])]
    assert len(gaps) >= 2 and gaps == sorted(gaps) and gaps[-1] > gaps[0]  # backing off


def test_an_overloaded_server_makes_the_pool_shrink_to_what_it_serves_at_once():
    steer, changes = steer_against(Server(limit=4), start=64, cap=64)
    shrinks = [c for c in changes if c.after < c.before]
    assert [(c.before, c.after) for c in shrinks[:4]] == [(64, 32), (32, 16), (16, 8), (8, 4)]
    assert "latency" in shrinks[0].why and "16.0x" in shrinks[0].why
    assert steer.size == 4  # two serve half as many: it went back to four
    assert max(c.after for c in changes[4:]) <= 8  # ...and never far from it again


def test_without_an_item_timed_alone_the_least_latency_seen_is_the_base():
    # overloaded from the first period on, nothing tells the latency climbed: it stays
    steer, changes = steer_against(Server(limit=4), start=64, cap=64, alone_known=False)
    assert steer.size == 64 and not [c for c in changes if c.after < c.before]


@pytest.mark.parametrize("start", [1, 7, 48])
def test_a_pool_never_leaves_one_to_cap(start):
    steer, changes = steer_against(Server(limit=3, alone=0.005), start=start, cap=48,
                                   periods=200)
    assert all(1 <= c.after <= 48 for c in changes)
    assert 1 <= steer.size <= 48


def test_a_change_says_when_from_what_to_what_and_why():
    change = Change(1.234, 64, 32, "latency climbed")
    assert str(change) == "at 1.23 s: workers 64 -> 32 (latency climbed)"
