"""``gilwise status``: a batch's state read from its journal, live, killed and finished."""

from __future__ import annotations

import json
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
from gilwise import status
from gilwise.cli.main import main

SRC = str(Path(gilwise.__file__).resolve().parents[1])

SLOW_JOB = textwrap.dedent("""
    import sys, time
    import gilwise

    def work(x):
        if x == 5:
            time.sleep(600)  # hangs: status shows it running
        if x % 10 == 3:
            raise ValueError(f"bad item {x}")
        time.sleep(0.02)
        return x

    if __name__ == "__main__":
        results = gilwise.map(work, range(40), mode="processes", workers=2, on_error="return",
                              journal=sys.argv[1])
        for _ in results:
            pass
""")


def wait_until(check, seconds: float = 120.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("the batch never got there")


def settled(journal: Path) -> dict | None:
    """The status once item 5 runs and two reads a second apart agree, else None."""
    try:
        first = status.read(journal)
    except gilwise.JournalError:  # not there yet, or its tables not made yet
        return None
    if [r["position"] for r in first["running"]] != [5]:
        return None
    time.sleep(1.0)
    second = status.read(journal)
    same = (first["done"], first["failed"]) == (second["done"], second["failed"])
    return second if same and second["failed"] == 4 else None


def run_status(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["status", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_status_of_a_live_batch_then_of_the_same_batch_killed(tmp_path, capsys):
    (tmp_path / "job.py").write_text(SLOW_JOB)
    journal = tmp_path / "run.db"
    job = subprocess.Popen([sys.executable, "job.py", str(journal)], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": SRC})
    try:
        # item 5 hangs; the items of other chunks all done (four of them failed), those
        # queued behind item 5 in its chunk waiting: the counts no longer move
        live = wait_until(lambda: settled(journal))
        assert live["state"] == "running" and live["pid"] == job.pid
        assert live["total"] == 40 and live["failed"] == 4 and live["done"] >= 25
        assert [r["position"] for r in live["running"]] == [5]
        done = live["done"]
        code, out, _ = run_status(capsys, str(journal), "--json")
        shown = json.loads(out)
        assert code == 0
        assert shown["state"] == "running" and shown["function"] == "__main__:work"
        assert (shown["done"], shown["failed"], shown["total"]) == (done, 4, 40)
        assert shown["running"][0]["position"] == 5 and shown["running"][0]["seconds"] >= 0
        assert shown["rate"] > 0 and shown["eta_seconds"] is not None
        assert shown["failures"] == [{"type": "ValueError", "count": 4,
                                      "example": {"position": 3, "message": "bad item 3"}}]
        code, out, _ = run_status(capsys, str(journal))
        assert f"run.db: running (pid {job.pid})" in out
        assert f"{done} done, 4 failed of 40 ({(done + 4) / 40:.1%})" in out
        assert "item 5 on worker" in out
        assert "ValueError ×4, e.g. item 3: bad item 3" in out
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    code, out, _ = run_status(capsys, str(journal), "--json")
    dead = json.loads(out)
    assert dead["state"] == "stopped" and dead["running"] == [] and dead["eta_seconds"] is None
    assert (dead["done"], dead["failed"]) == (done, 4)
    code, out, _ = run_status(capsys, str(journal))
    assert "run.db: stopped" in out and "running" not in out.split("\n", 1)[1]


def double(x: int) -> int:
    if x == 7:
        raise KeyError("seven")
    return 2 * x


def test_status_of_a_finished_batch(tmp_path, capsys):
    journal = tmp_path / "done.db"
    list(gilwise.map(double, range(20), mode="threads", workers=2, on_error="return",
                     journal=journal))
    code, out, _ = run_status(capsys, str(journal), "--json")
    shown = json.loads(out)
    assert code == 0
    assert shown["state"] == "finished"
    assert (shown["done"], shown["failed"], shown["total"]) == (19, 1, 20)
    assert shown["eta_seconds"] == 0 and shown["running"] == []
    assert shown["function"] == f"{__name__}:double"
    assert shown["failures"][0]["type"] == "KeyError"
    code, out, _ = run_status(capsys, str(journal))
    assert "done.db: finished" in out and "19 done, 1 failed of 20 (100.0%)" in out
    assert "KeyError ×1, e.g. item 7" in out


def test_a_generator_s_total_is_unknown(tmp_path):
    journal = tmp_path / "gen.db"
    list(gilwise.map(double, (x for x in range(10)), mode="threads", on_error="return",
                     journal=journal))
    found = status.read(journal)
    assert found["total"] is None and found["done"] == 9
    assert "(total unknown)" in status.text(found)


@pytest.mark.parametrize("content", ["text", "empty database", "missing"])
def test_a_file_that_is_not_a_journal_is_one_line_and_exit_2(tmp_path, capsys, content):
    path = tmp_path / "thing.db"
    if content == "text":
        path.write_text("not a database at all\n" * 50)
    elif content == "empty database":
        sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    code, out, err = run_status(capsys, str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "thing.db: " in err and ("not a gilwise journal" in err or "no such" in err)
