"""The journal: resume skips what is done, keeps results in place, runs a changed item again
and refuses a changed function."""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading

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


def square_recorded(x: int) -> int:
    return x * x


def tenfold_x(row: dict) -> int:
    CALLS.append(row["x"])
    return row["x"] * 10


def by_id(row: dict) -> str:
    return row["id"]


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


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_an_item_that_changed_after_the_first_sixteen_is_run_again(tmp_path, mode):
    journal = tmp_path / "run.db"
    items = list(range(30))
    list(gilwise.map(square_recorded, items, mode=mode, workers=2, journal=journal))
    items[20] = 1004
    results = gilwise.map(square_recorded, items, mode=mode, workers=2, journal=journal)
    assert list(results)[20] == 1004 * 1004
    assert results.info.from_journal == 29


def test_another_input_on_the_same_journal_runs_where_its_items_differ(tmp_path):
    journal = tmp_path / "run.db"
    run(range(4), journal)
    CALLS.clear()
    assert run([0, 1, 100, 101], journal) == [0, 1, 10000, 10201]
    assert CALLS == [100, 101]


def test_with_key_an_item_whose_key_is_known_but_content_changed_is_run_again(tmp_path):
    journal = tmp_path / "run.db"
    rows = [{"id": "a", "x": 1}, {"id": "b", "x": 2}, {"id": "c", "x": 3}]
    list(gilwise.map(tenfold_x, rows, mode="threads", journal=journal, key=by_id))
    CALLS.clear()
    rows[1] = {"id": "b", "x": 20}
    assert list(gilwise.map(tenfold_x, rows[::-1], mode="threads", journal=journal,
                            key=by_id)) == [30, 200, 10]
    assert CALLS == [20]


def test_a_changed_lambda_is_refused_with_a_message_naming_the_journal(tmp_path):
    journal = tmp_path / "run.db"
    assert list(gilwise.map(lambda x: x * 2, range(3), mode="threads", journal=journal)) == [
        0, 2, 4
    ]
    with pytest.raises(JournalError, match=r"run\.db was made by another version of .*<lambda>"):
        list(gilwise.map(lambda x: x * 3, range(3), mode="threads", journal=journal))


def test_a_journal_made_under_another_python_is_refused_saying_so(tmp_path):
    journal = tmp_path / "run.db"
    run(range(3), journal)
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        db.execute("UPDATE meta SET value = '3.9' WHERE name = 'python'")
        db.execute("UPDATE meta SET value = 'compiled by 3.9' WHERE name = 'code'")
    with pytest.raises(JournalError, match="run.db was made under Python 3.9, whose bytecode"):
        run(range(3), journal)


def closing_over(factor):
    return lambda x: x * factor


def defaulting_to(factor):
    def scaled(x, factor=factor):
        return x * factor

    return scaled


def scaled(x, factor):
    return x * factor


def calling_a_helper_that_returns(expression):
    """``work`` of a module ``jobs`` whose ``helper`` returns ``expression``."""
    namespace = {"__name__": "jobs"}
    exec(f"def helper(x):\n    return {expression}\n\ndef work(x):\n    return helper(x)\n",
         namespace)
    return namespace["work"]


@pytest.mark.parametrize(
    "first, changed",
    [
        (closing_over(2), closing_over(3)),
        (defaulting_to(2), defaulting_to(3)),
        (functools.partial(scaled, factor=2), functools.partial(scaled, factor=3)),
        (calling_a_helper_that_returns("x + 1"), calling_a_helper_that_returns("x + 2")),
        (functools.cache(closing_over(2)), functools.cache(closing_over(3))),
    ],
    ids=["closure value", "default", "partial's argument", "helper it calls", "cached"],
)
def test_a_function_whose_closure_defaults_arguments_or_helpers_changed_is_refused(
    tmp_path, first, changed
):
    journal = tmp_path / "run.db"
    list(gilwise.map(first, range(3), mode="threads", journal=journal))
    with pytest.raises(JournalError, match="changed"):
        list(gilwise.map(changed, range(3), mode="threads", journal=journal))


def stamp(row: dict) -> str:
    CALLS.append(row["id"])
    row["stamped"] = True  # changes the item in place, as some tasks do
    return row["id"]


def test_an_item_the_task_changed_in_place_is_still_known_on_resume(tmp_path):
    journal = tmp_path / "run.db"
    list(gilwise.map(stamp, [{"id": "a"}, {"id": "b"}], mode="threads", journal=journal))
    CALLS.clear()
    results = gilwise.map(stamp, [{"id": "a"}, {"id": "b"}], mode="threads", journal=journal)
    assert list(results) == ["a", "b"] and CALLS == []


class Unpicklable:
    """An item that cannot be pickled (it holds a lock), shown by its name where it has one,
    else by an address, the same in both runs (as a reused address is: free-threaded 3.13t's
    allocator reuses them at once)."""

    def __init__(self, name: str | None) -> None:
        self.name, self.lock = name, threading.Lock()

    def __repr__(self) -> str:
        return f"Unpicklable({self.name})" if self.name else "<Unpicklable object at 0x7f3a1c>"


def name_of(item: Unpicklable) -> str | None:
    CALLS.append(item.name)
    return item.name


def test_an_item_that_cannot_be_pickled_is_known_by_its_repr_or_else_runs_again(tmp_path):
    journal = tmp_path / "run.db"
    for _ in range(2):
        CALLS.clear()
        list(gilwise.map(name_of, [Unpicklable("a"), Unpicklable(None)], mode="threads",
                         journal=journal))
    assert CALLS == [None]  # "a" came from the journal; the one known by address ran again


def test_the_same_function_resumes_in_a_new_process_whatever_its_hash_seed(tmp_path):
    """The function's digest is stable across interpreters: its set constants are sorted."""
    (tmp_path / "job.py").write_text(textwrap.dedent("""
        import sys
        import gilwise

        WORDS = {"alpha", "beta", "gamma", "delta"}

        def tag(word, stop=frozenset({"the", "a", "of"})):
            return word in WORDS or word in {"x", "y", "z"} or word in stop

        results = gilwise.map(tag, ["alpha", "x", "the", "zzz"], mode="threads",
                              journal=sys.argv[1])
        print(list(results), results.info.from_journal)
    """))
    runs = [
        subprocess.run([sys.executable, "job.py", "run.db"], cwd=tmp_path, text=True,
                       capture_output=True, timeout=60, env={**os.environ, "PYTHONHASHSEED": seed})
        for seed in ("1", "2")
    ]
    assert [r.stderr for r in runs] == ["", ""]
    assert [r.stdout for r in runs] == ["[True, True, True, False] 0\n",
                                        "[True, True, True, False] 4\n"]


def test_a_journal_of_the_older_format_is_refused_with_what_to_do(tmp_path):
    journal = tmp_path / "old.db"
    with sqlite3.connect(journal) as db:
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("CREATE TABLE items (key TEXT PRIMARY KEY, position INTEGER NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('input', '[]')")
    db.close()
    with pytest.raises(JournalError, match="old.db was written by an older gilwise.*delete it"):
        run(range(4), journal)


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
