"""The `gilwise map` command, run as a real subprocess: success and every bad input."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from terminal import run_on_terminal, screen


def gilwise(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gilwise", *args],
        cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "work.py").write_text(textwrap.dedent("""
        import math
        import time

        def double(x):
            return int(x) * 2

        def same(x):
            return x

        def slow(x):
            time.sleep(0.05)
            return x

        def shout(x):
            if x == "boom":
                raise RuntimeError("it went boom")
            return x.upper()

        def nap(x):
            time.sleep(0.02)
            return x

        def odd(x):
            return {"nan": math.nan, "inf": [math.inf, -math.inf], "bytes": b"\\xff\\x00a"}

        def keyed(x):
            return {(1, 2): 3, math.nan: 4}
    """))
    (tmp_path / "inputs.txt").write_text("1\n2\n3\n\n4\n")
    return tmp_path


def records(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_map_writes_one_json_record_per_item(project):
    run = gilwise("map", "work:double", "inputs.txt", "-o", "out.jsonl", "--mode", "processes",
                  "--workers", "2", cwd=project)
    assert run.returncode == 0, run.stderr
    out = records((project / "out.jsonl").read_text())
    assert [(r["index"], r["item"], r["ok"], r["value"]) for r in out] == [
        (0, "1", True, 2), (1, "2", True, 4), (2, "3", True, 6), (3, "4", True, 8)
    ]


def test_map_reads_jsonl_and_stdin(project):
    run = gilwise("map", "work:double", "-", "--json", "--mode", "threads", cwd=project,
                  stdin='5\n"6"\n')
    assert run.returncode == 0, run.stderr
    assert [r["value"] for r in records(run.stdout)] == [10, 12]


def test_failed_items_are_recorded_and_exit_code_is_1(project):
    (project / "words.txt").write_text("a\nboom\nc\n")
    run = gilwise("map", "work:shout", "words.txt", "--mode", "threads", cwd=project)
    assert run.returncode == 1
    out = records(run.stdout)
    assert [r["ok"] for r in out] == [True, False, True]
    assert out[1]["error"] == {"type": "RuntimeError", "message": "it went boom"}
    assert run.stderr.splitlines() == [
        'gilwise: 1 of 3 items failed: see the lines with "ok": false in the output'
    ]
    run = gilwise("map", "work:shout", "words.txt", "-o", "out.jsonl", "--journal", "run.db",
                  cwd=project)
    assert run.returncode == 1
    assert run.stderr.splitlines() == [
        'gilwise: 1 of 3 items failed: see the lines with "ok": false in out.jsonl; the '
        "journal run.db keeps them (--retry-failed runs them again)"
    ]


def test_every_output_line_is_strict_json(project):
    """NaN and infinities as the strings JSON's readers agree on, bytes as base64."""
    run = gilwise("map", "work:odd", "inputs.txt", "--mode", "threads", cwd=project)
    assert run.returncode == 0, run.stderr

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    out = [json.loads(line, parse_constant=refuse) for line in run.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["value"] == {
        "nan": "NaN", "inf": ["Infinity", "-Infinity"],
        "bytes": {"$bytes": base64.b64encode(b"\xff\x00a").decode()},
    }
    run = gilwise("map", "work:keyed", "inputs.txt", "--mode", "threads", cwd=project)
    assert run.returncode == 0, run.stderr  # was: exit 2, keys must be str, ... not tuple
    out = [json.loads(line, parse_constant=refuse) for line in run.stdout.splitlines()]
    assert out[0]["value"] == {"(1, 2)": 3, "NaN": 4}


def test_explain_says_which_mode_and_why(project):
    run = gilwise("map", "work:double", "inputs.txt", "--explain", cwd=project)
    assert run.returncode == 0
    assert "gilwise: threads×" in run.stderr or "gilwise: processes×" in run.stderr


def test_explain_gives_the_first_choice_its_own_numbers_then_each_change(project):
    """An I/O-bound pool grows as it runs: the first line is what it started with."""
    (project / "naps.txt").write_text("\n".join(map(str, range(1000))) + "\n")
    run = gilwise("map", "work:nap", "naps.txt", "--explain", "-o", "out.jsonl", cwd=project)
    assert run.returncode == 0, run.stderr
    first, *changes = run.stderr.splitlines()
    chosen = re.match(r"gilwise: (\w+)×(\d+): ", first)
    assert chosen, first
    assert changes, f"the pool was not resized, nothing to check: {run.stderr}"
    numbers = [re.match(r"gilwise: at \S+ s: (?:workers |(\w+)×)(\d+) -> (?:\w+×)?(\d+) ",
                        line) for line in changes]
    assert all(numbers), run.stderr
    mode, before, _ = numbers[0].groups()
    assert (mode or chosen[1], before) == chosen.groups(), run.stderr
    for earlier, later in zip(numbers, numbers[1:]):  # each change from where the last left it
        assert later[2] == earlier[3], run.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchmodule:double", "inputs.txt"], "no module named 'nosuchmodule'"),
        (["work:nosuchfunction", "inputs.txt"], "has no function 'nosuchfunction'"),
        (["work", "inputs.txt"], "expected MODULE:FUNCTION"),
        (["work:double", "missing.txt"], "missing.txt: no such input file"),
        (["work:double", "."], "is a folder"),
        (["work:double", "bad.jsonl"], "bad.jsonl: line 2: invalid JSON"),
        (["work:double", "bad.json"], "bad.json: line 2 column 2: invalid JSON"),
        (["work:double", "inputs.txt", "-o", "no/such/dir/out.jsonl"], "cannot write"),
        (["work:double", "inputs.txt", "--workers", "0"], "--workers: '0' must be at least 1"),
        (["work:double", "inputs.txt", "--mode", "fast"], "--mode: invalid choice: 'fast'"),
        (["work:double", "inputs.txt", "--retries", "-1"], "'-1' must be at least 0"),
        (["work:double", "inputs.txt", "--timeout", "soon"], "'soon' is not a number of seconds"),
        (["work:double", "inputs.txt", "--no-such-option"],
         "unrecognized arguments: --no-such-option (see gilwise map --help)"),
        (["work:double"], "the following arguments are required: input"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(project, args, message):
    (project / "bad.jsonl").write_text('1\n{"unclosed": \n3\n')
    (project / "bad.json").write_text('[1, 2,\n x]\n')
    run = gilwise("map", *args, cwd=project)
    assert run.returncode == 2
    assert run.stderr.startswith("gilwise: error: ") and message in run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr


def test_a_missing_command_is_one_line_and_exit_code_2(project):
    run = gilwise(cwd=project)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "gilwise: error: the following arguments are required: COMMAND (see gilwise --help)"
    ]


@pytest.mark.parametrize(
    "name, text, items",
    [
        ("array.json", '[1, "2",\n 3]\n', [1, "2", 3]),
        ("lines.json", '1\n"2"\n3\n', [1, "2", 3]),
        ("arrays.json", "[1, 2]\n[3]\n", [[1, 2], [3]]),
        ("lines.jsonl", "[1, 2]\n", [[1, 2]]),
        ("lines.ndjson", '{"a": 1}\n2\n', [{"a": 1}, 2]),
        ("strings.txt", "[1, 2]\n3\n", ["[1, 2]", "3"]),
    ],
)
def test_each_extension_is_read_as_documented(project, name, text, items):
    (project / name).write_text(text)
    run = gilwise("map", "work:same", name, "--mode", "threads", cwd=project)
    assert run.returncode == 0, run.stderr
    assert [r["item"] for r in records(run.stdout)] == items


def test_output_holds_the_journalled_results_after_a_kill_9(project):
    (project / "many.txt").write_text("\n".join(map(str, range(400))) + "\n")
    job = subprocess.Popen(
        [sys.executable, "-m", "gilwise", "map", "work:slow", "many.txt", "-o", "out.jsonl",
         "--journal", "run.db", "--mode", "threads", "--workers", "2"],
        cwd=project, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while len(journalled := journal_positions(project / "run.db")) < 20:
            assert time.monotonic() < deadline and job.poll() is None, "no item was journalled"
            time.sleep(0.05)
        time.sleep(0.1)
    finally:
        job.kill()
        job.communicate()
    lines = (project / "out.jsonl").read_text().splitlines()
    written = {json.loads(line)["index"] for line in lines}  # each line whole JSON
    assert journalled <= written


def test_a_reader_that_leaves_ends_the_run_quietly(project):
    """`gilwise map ... | head -1`: exit 141 (as a tool killed by SIGPIPE), no traceback,
    the rest of the work cancelled and what finished kept in the journal."""
    (project / "many.txt").write_text("\n".join(map(str, range(400))) + "\n")
    job = subprocess.Popen(
        [sys.executable, "-m", "gilwise", "map", "work:slow", "many.txt", "--journal", "run.db",
         "--mode", "threads", "--workers", "2"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        first = job.stdout.readline()
        job.stdout.close()
        err = job.stderr.read().decode()
        job.wait(60)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert json.loads(first)["index"] == 0
    assert (job.returncode, err) == (141, "")
    journalled = journal_positions(project / "run.db")
    assert 0 in journalled and len(journalled) < 400  # 400 x 50 ms on 2 threads: 10 s
    again = gilwise("map", "work:slow", "many.txt", "--journal", "run.db", "--mode", "threads",
                    "--workers", "4", "-o", "out.jsonl", cwd=project)
    assert again.returncode == 0, again.stderr
    assert len(records((project / "out.jsonl").read_text())) == 400


def test_progress_bar_and_results_share_the_terminal(project):
    """stdout and the bar on one terminal: each result on a line of its own, no bar in it."""
    (project / "sixty.txt").write_text("\n".join(map(str, range(60))) + "\n")
    code, output = run_on_terminal(
        [sys.executable, "-m", "gilwise", "map", "work:slow", "sixty.txt", "--mode", "threads",
         "--workers", "2", "--progress"], cwd=project)
    assert code == 0, output
    assert "gilwise threads" in output  # the bar was drawn
    lines = [line for line in screen(output) if '"index"' in line]
    assert [json.loads(line)["index"] for line in lines] == list(range(60)), lines


def journal_positions(path: Path) -> set[int]:
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return {row[0] for row in db.execute("SELECT position FROM items")}
    except sqlite3.OperationalError:  # not made yet
        return set()


def test_stats_of_a_run_resumed_from_the_journal_count_only_what_it_ran(project):
    (project / "words.txt").write_text("a\nboom\nc\n")
    args = ["map", "work:shout", "words.txt", "--journal", "run.db", "--stats", "-o", "o.jsonl"]
    first, again = gilwise(*args, cwd=project), gilwise(*args, cwd=project)
    assert "RuntimeError ×1" in first.stderr
    assert re.search(r"items run\s+│\s+0\s", again.stderr), again.stderr
    assert re.search(r"from the journal\s+│\s+3\s", again.stderr), again.stderr
    assert re.search(r"failures by type\s+│\s+none\s", again.stderr), again.stderr


def test_results_before_a_bad_json_line_are_kept(project):
    (project / "bad.jsonl").write_text('1\n2\n{oops\n4\n')
    run = gilwise("map", "work:double", "bad.jsonl", "--mode", "threads", cwd=project)
    assert run.returncode == 2 and "line 3: invalid JSON" in run.stderr
    assert [r["value"] for r in records(run.stdout)] == [2, 4]


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="sub-interpreters exist from 3.14")
def test_interpreters_mode_before_3_14_is_a_clear_error(project):
    run = gilwise("map", "work:double", "inputs.txt", "--mode", "interpreters", cwd=project)
    assert run.returncode == 2
    assert "mode='interpreters' needs Python 3.14+" in run.stderr
    assert "Traceback" not in run.stderr


def test_help_explains_the_command(project):
    run = gilwise("map", "--help", cwd=project)
    assert run.returncode == 0
    assert "MODULE:FUNCTION" in run.stdout and "--workers" in run.stdout


def test_lab_refuses_an_output_that_is_a_file(project):
    run = gilwise("lab", "--quick", "--out", "inputs.txt", cwd=project)
    assert run.returncode == 2
    assert "inputs.txt: exists and is not a folder" in run.stderr


def test_fail_fast_stops_at_a_tasks_own_exception_in_one_line(project):
    (project / "words.txt").write_text("a\nb\nboom\nc\n")
    run = gilwise("map", "work:shout", "words.txt", "-o", "out.jsonl", "--mode", "threads",
                  "--workers", "1", "--fail-fast", cwd=project)
    assert run.returncode == 1
    assert run.stderr == ("gilwise: task for item 2 ('boom') failed after 1 attempt(s): "
                          "RuntimeError: it went boom\n")
    assert [r["item"] for r in records((project / "out.jsonl").read_text())] == ["a", "b"]
