"""One journal, one writer; and fix-and-rerun: a changed function with ``retry_failed``
keeps the old code's results and runs only its failures again."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import gilwise
from gilwise.journal import JournalError

SRC = str(Path(gilwise.__file__).resolve().parents[1])

JOB = textwrap.dedent("""
    import os, sys, time
    import gilwise

    def work(x):
        with open(sys.argv[2], "a") as calls:  # one line per call, appended
            calls.write(f"{x}\\n")
        time.sleep(0.05)
        return x * 2

    if __name__ == "__main__":
        mode = sys.argv[3] if len(sys.argv) > 3 else "threads"
        try:
            results = gilwise.map(work, range(60), mode=mode, workers=2, journal=sys.argv[1])
            print(sum(results), results.info.from_journal)
        except gilwise.JournalError as exc:
            print(exc, file=sys.stderr)
            sys.exit(3)
""")


def start(tmp_path: Path, mode: str = "threads") -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "job.py", "run.db", "calls.txt", mode], cwd=tmp_path, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC},
    )


def calls(tmp_path: Path) -> list[int]:
    path = tmp_path / "calls.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def wait_for_calls(tmp_path: Path, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(calls(tmp_path)) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_second_run_on_a_journal_in_use_refuses_naming_the_holder(tmp_path):
    (tmp_path / "job.py").write_text(JOB)
    first = start(tmp_path)
    wait_for_calls(tmp_path, 4)
    second = start(tmp_path)
    out2, err2 = second.communicate(timeout=120)
    out1, err1 = first.communicate(timeout=120)
    assert second.returncode == 3, err2
    assert f"run.db is in use by another run (pid {first.pid})" in err2
    assert first.returncode == 0, err1
    assert out1.split() == [str(sum(x * 2 for x in range(60))), "0"]
    assert sorted(calls(tmp_path)) == list(range(60))  # no item ran twice


def test_a_journal_whose_writer_was_killed_is_free_at_once(tmp_path):
    """The lock dies with its process: a kill -9 leaves nothing that blocks; and the forked
    workers, which outlive their parent a moment, do not hold it."""
    (tmp_path / "job.py").write_text(JOB)
    first = start(tmp_path, "processes")
    wait_for_calls(tmp_path, 30)
    first.send_signal(signal.SIGKILL)
    first.wait()
    from gilwise.journal import Journal

    Journal(tmp_path / "run.db").close()  # at once: its workers, still alive, hold nothing
    second = start(tmp_path, "processes")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    total, resumed = out.split()
    assert total == str(sum(x * 2 for x in range(60))) and int(resumed) > 0


def test_two_journals_on_one_file_in_one_process_are_refused(tmp_path):
    from gilwise.journal import Journal

    first = Journal(tmp_path / "run.db")
    first.bind("jobs:work", "code", retry_failed=False)
    try:
        with pytest.raises(JournalError, match=rf"in use by another run \(pid {os.getpid()}\)"):
            Journal(tmp_path / "run.db")
    finally:
        first.close()
    Journal(tmp_path / "run.db").close()  # free again


CALLS: list[int] = []


def version(body: str):
    """``jobs:work`` with ``body``: the same function name, other code."""
    namespace = {"__name__": "jobs", "CALLS": CALLS}
    exec(f"def work(x):\n    CALLS.append(x)\n{textwrap.indent(body, '    ')}\n", namespace)
    return namespace["work"]


BUGGY = version("if x % 4 == 0:\n    raise ValueError(f'bad {x}')\nreturn x * 2")
FIXED = version("return x * 2 if x % 4 else -x")


def codes(journal: Path) -> dict[int, str]:
    with contextlib.closing(sqlite3.connect(journal)) as db:
        return dict(db.execute("SELECT position, code FROM items"))


def test_a_fixed_function_reruns_only_the_failures_and_keeps_the_old_results(tmp_path):
    journal = tmp_path / "run.db"
    CALLS.clear()
    first = list(gilwise.map(BUGGY, range(12), mode="threads", workers=2, on_error="return",
                             journal=journal))
    assert [i for i, v in enumerate(first) if isinstance(v, gilwise.Failure)] == [0, 4, 8]
    with pytest.raises(JournalError, match="another version of jobs:work.*retry_failed=True"):
        list(gilwise.map(FIXED, range(12), mode="threads", journal=journal))
    CALLS.clear()
    results = gilwise.map(FIXED, range(12), mode="threads", workers=2, journal=journal,
                          retry_failed=True)
    assert list(results) == [0, 2, 4, 6, -4, 10, 12, 14, -8, 18, 20, 22]
    assert sorted(CALLS) == [0, 4, 8]  # only the failures ran, with the fixed code
    assert results.info.from_journal == 9
    made_by = codes(journal)
    old, new = made_by[1], made_by[0]
    assert old != new and {made_by[p] for p in (0, 4, 8)} == {new}
    assert {made_by[p] for p in range(12) if p % 4} == {old}
    CALLS.clear()  # and the journal is the fixed function's now: a plain rerun skips it all
    assert list(gilwise.map(FIXED, range(12), mode="threads", journal=journal))[4] == -4
    assert CALLS == []


def square(x: int) -> int:
    return x * x


def test_a_journal_of_format_2_is_read_and_upgraded(tmp_path):
    journal = tmp_path / "run.db"
    list(gilwise.map(square, range(5), mode="threads", journal=journal))
    with contextlib.closing(sqlite3.connect(journal)) as db, db:
        db.execute("ALTER TABLE items DROP COLUMN code")
        db.execute("UPDATE meta SET value = '2' WHERE name = 'format'")
    results = gilwise.map(square, range(6), mode="threads", journal=journal)
    assert list(results) == [0, 1, 4, 9, 16, 25] and results.info.from_journal == 5
    assert len(set(codes(journal).values())) == 1
