"""A worker's logging behaves as the user's script set it up, whatever start method ran:
forkserver workers (used when the parent has another thread alive) inherit nothing and do
not run the script, so the parent's root-logger setup is rebuilt in them. A real script, in
a real subprocess; RunInfo says which start method ran."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[1] / "src")

SCRIPT = textwrap.dedent("""
    import logging, sys, threading
    import gilwise

    logging.basicConfig(filename=sys.argv[1], level=logging.INFO,
                        format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("quiet").setLevel(logging.ERROR)
    logging.getLogger("main").info("before the map")
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()  # another thread alive

    def work(x):
        logging.getLogger("task").info("item %s", x)
        logging.getLogger("quiet").warning("hidden %s", x)  # below its logger's level
        return x

    if __name__ == "__main__":
        method = None if sys.argv[2] == "default" else sys.argv[2]
        results = gilwise.map(work, range(4), mode="processes", workers=2, start_method=method)
        print(list(results), results.info.start_method)
        stop.set()
""")


@pytest.mark.parametrize("method, ran", [
    ("default", "forkserver"),  # a thread is alive: gilwise does not fork
    ("forkserver", "forkserver"), ("spawn", "spawn"), ("fork", "fork"),
])
def test_every_worker_log_line_reaches_the_scripts_log_file(tmp_path, method, ran):
    (tmp_path / "script.py").write_text(SCRIPT)
    log = tmp_path / "run.log"
    done = subprocess.run([sys.executable, "script.py", str(log), method], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": SRC}, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[0,", "1,", "2,", "3]", ran]
    lines = log.read_text().splitlines()
    assert lines[0] == "INFO main before the map"  # appended to, not truncated
    # spawn runs the script's top level again in each worker: its line again, as it would
    # under multiprocessing; the workers' own lines come once each, whatever the method
    assert sorted(line for line in lines if "task" in line) == [
        f"INFO task item {i}" for i in range(4)]
    assert len(lines) == 5 or method == "spawn"
    assert "hidden" not in done.stderr  # the named logger's level holds in the workers


def test_run_info_has_no_start_method_without_processes():
    import gilwise

    results = gilwise.map(abs, [-1], mode="threads")
    assert list(results) == [1] and results.info.start_method is None
