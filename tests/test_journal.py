"""The journal: resume skips what is done, keeps results in place, refuses a stranger's."""

from __future__ import annotations

import pytest

import gilwise
from gilwise.journal import JournalError

CALLS: list[int] = []


def count_and_square(x: int) -> int:
    CALLS.append(x)
    if x == 3:
        raise ValueError("three")
    return x * x


def other(x: int) -> int:
    return x


@pytest.fixture(autouse=True)
def fresh_calls():
    CALLS.clear()


def run(items, journal, **options):
    return list(gilwise.map(count_and_square, items, mode="threads", workers=2,
                            on_error="return", journal=journal, **options))


def test_a_second_run_skips_done_items_and_yields_their_results(tmp_path):
    journal = tmp_path / "run.db"
    first = run(range(10), journal)
    assert sorted(CALLS) == list(range(10))
    CALLS.clear()
    results = gilwise.map(count_and_square, range(12), mode="threads", workers=2,
                          on_error="return", journal=journal)
    second = list(results)
    assert sorted(CALLS) == [10, 11]  # only the new items ran
    assert second[:10] == first and second[10:] == [100, 121]
    assert results.info.from_journal == 10
    assert isinstance(second[3], gilwise.Failure) and second[3].message == "three"


def test_retry_failed_runs_only_the_failures_again(tmp_path):
    journal = tmp_path / "run.db"
    run(range(6), journal)
    CALLS.clear()
    run(range(6), journal, retry_failed=True)
    assert CALLS == [3]


def test_key_finds_items_whose_position_changed(tmp_path):
    journal = tmp_path / "run.db"
    run([5, 6, 7], journal, key=str)
    CALLS.clear()
    assert run([7, 5, 6, 8], journal, key=str)[:3] == [49, 25, 36]
    assert CALLS == [8]


def test_a_journal_of_another_function_is_refused(tmp_path):
    journal = tmp_path / "run.db"
    run(range(4), journal)
    with pytest.raises(JournalError, match="was made by .*count_and_square, not .*other"):
        list(gilwise.map(other, range(4), mode="threads", journal=journal))


def test_a_journal_of_another_input_is_refused(tmp_path):
    journal = tmp_path / "run.db"
    run(range(4), journal)
    with pytest.raises(JournalError, match="another input"):
        run(range(100, 104), journal)


def test_a_file_that_is_not_a_journal_is_refused(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(JournalError, match="notes.txt: not a usable journal"):
        run(range(4), bogus)
    assert bogus.read_text().startswith("these are my notes")  # and it is left untouched


def test_stats_are_collected_per_item(tmp_path):
    results = gilwise.map(count_and_square, range(20), mode="processes", workers=2,
                          on_error="return", stats=True)
    list(results)
    stats = results.info.stats.as_dict(results.info.workers)
    assert stats["items"] == 20
    assert stats["failures"] == {"ValueError": 1}
    assert len(stats["slowest"]) == 5
