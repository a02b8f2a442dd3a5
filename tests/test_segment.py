"""Tail: what auto mode hands the engine after running a list's, tuple's or range's first items."""

import pytest

from gilwise._segment import Tail


@pytest.mark.parametrize("items", [list(range(10)), tuple(range(10)), range(10)])
def test_a_tail_is_the_rest_of_the_sequence(items):
    tail = Tail(items, 3)
    rest = list(items)[3:]
    assert len(tail) == len(rest)
    assert list(tail) == rest
    assert list(tail[0:4]) == rest[0:4]
    assert list(tail[5:100]) == rest[5:100]
    assert tail[0] == rest[0] and tail[-1] == rest[-1]
    with pytest.raises(IndexError):
        tail[len(rest)]


def test_a_range_tail_slices_to_ranges_not_lists():
    chunk = Tail(range(10**12), 5)[0:25000]
    assert isinstance(chunk, range) and chunk[0] == 5 and len(chunk) == 25000


def test_a_tail_past_the_end_is_empty():
    assert len(Tail([1, 2], 5)) == 0 and list(Tail([1, 2], 5)[0:10]) == []
