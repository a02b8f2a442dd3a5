"""Ctrl-C and kill -9 of the parent, on a real `gilwise` subprocess, then resume.

The job's items 0-9 are quick; items 10-19 hold while a `hold` file exists, so the
interruption always lands while workers are busy. Every call appends its item to `calls`
when it finishes: over the interrupted run and the resumed one, each item runs once.
"""

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

import psutil
import pytest

JOB = textwrap.dedent('''
    import os, time
    from pathlib import Path

    HERE = Path(__file__).parent

    def work(x):
        x = int(x)
        if x >= 10:
            deadline = time.monotonic() + 60
            while (HERE / "hold").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
        with open(HERE / "calls", "a") as f:
            f.write(f"{x}\\n")
        return x * x
''')


@pytest.fixture
def job(tmp_path: Path) -> Path:
    (tmp_path / "job.py").write_text(JOB)
    (tmp_path / "items.txt").write_text("".join(f"{i}\n" for i in range(20)))
    (tmp_path / "hold").write_text("")
    return tmp_path


def start(job: Path, *extra: str) -> subprocess.Popen:
    args = ["map", "job:work", "items.txt", "--mode", "processes", "--workers", "2",
            "--chunksize", "1", "--journal", "run.db", *extra]
    return subprocess.Popen([sys.executable, "-m", "gilwise.cli", *args], cwd=job,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)



def journaled(job: Path) -> int:
    try:
        with sqlite3.connect(job / "run.db") as db:
            return db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_until(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def workers_of(process: subprocess.Popen) -> list[psutil.Process]:
    wait_until(lambda: len(psutil.Process(process.pid).children(recursive=True)) >= 2)
    return psutil.Process(process.pid).children(recursive=True)


def all_gone(processes: list[psutil.Process], seconds: float) -> bool:
    gone, alive = psutil.wait_procs(processes, timeout=seconds)
    return not alive


def resume_and_check(job: Path) -> None:
    (job / "hold").unlink()
    second = start(job, "-o", "out.jsonl")
    out, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    records = [json.loads(line) for line in (job / "out.jsonl").read_text().splitlines()]
    assert [r["value"] for r in records] == [i * i for i in range(20)]  # complete, in order
    calls = sorted(int(x) for x in (job / "calls").read_text().split())
    assert calls == list(range(20))  # each item ran exactly once over both runs


def test_ctrl_c_exits_130_fast_leaves_no_worker_and_resumes(job):
    first = start(job)
    wait_until(lambda: journaled(job) >= 10)  # the quick items are done and committed
    workers = workers_of(first)
    os.killpg(first.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    sent = time.monotonic()
    out, err = first.communicate(timeout=10)
    assert first.returncode == 130
    assert time.monotonic() - sent < 2.0
    assert "interrupted: 10 done, 0 failed" in err and "--journal run.db" in err
    assert "Traceback" not in err
    assert all_gone(workers, 2.0)
    resume_and_check(job)


def test_kill_9_of_the_parent_takes_the_workers_down_and_resumes(job):
    first = start(job)
    wait_until(lambda: journaled(job) >= 10)
    workers = workers_of(first)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=10)
    assert all_gone(workers, 2.0)  # they noticed their parent died
    resume_and_check(job)
