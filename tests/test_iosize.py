"""How many threads an I/O-bound batch starts with: Little's law, held to the items left and
to a cap that the limit on open files may lower."""

from __future__ import annotations

import pytest

from gilwise.auto.io_threads import MOST_THREADS, io_threads, thread_cap

resource = pytest.importorskip("resource")


@pytest.fixture
def open_files_limit():
    """Set this process's soft limit on open files for the test, then put it back."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def set_soft(soft: int) -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, saved[1]))

    yield set_soft
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_the_cap_leaves_each_thread_a_file_of_its_own_and_the_rest_for_the_process(
        open_files_limit):
    open_files_limit(200)
    assert thread_cap() == 100
    open_files_limit(4096)
    assert thread_cap() == MOST_THREADS


@pytest.mark.parametrize(("demand", "remaining", "expected"), [
    (0.5, None, 8),  # computing half the time: a few more threads than cores
    (0.01, None, 256),  # waiting 99%: two cores' worth of waits (200), to a power of two
    (0.0001, None, 512),  # waiting all the time: the cap
    (0.0001, 299, 299),  # ...but no more threads than items left
    (0.01, 3, 3),
])
def test_threads_cover_the_wait_of_the_items_left(demand, remaining, expected):
    assert io_threads(demand, cores=2, remaining=remaining, cap=512) == expected
