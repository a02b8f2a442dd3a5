"""The `gilwise map` command, run as a real subprocess: success and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def gilwise(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gilwise", *args],
        cwd=cwd, input=stdin, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "work.py").write_text(textwrap.dedent("""
        def double(x):
            return int(x) * 2

        def shout(x):
            if x == "boom":
                raise RuntimeError("it went boom")
            return x.upper()
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


def test_explain_says_which_mode_and_why(project):
    run = gilwise("map", "work:double", "inputs.txt", "--explain", cwd=project)
    assert run.returncode == 0
    assert "gilwise: threads×" in run.stderr or "gilwise: processes×" in run.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["nosuchmodule:double", "inputs.txt"], "no module named 'nosuchmodule'"),
        (["work:nosuchfunction", "inputs.txt"], "has no function 'nosuchfunction'"),
        (["work", "inputs.txt"], "expected MODULE:FUNCTION"),
        (["work:double", "missing.txt"], "missing.txt: no such input file"),
        (["work:double", "."], "is a folder"),
        (["work:double", "bad.jsonl"], "bad.jsonl: line 2: invalid JSON"),
        (["work:double", "inputs.txt", "--workers", "0"], "must be at least 1"),
        (["work:double", "inputs.txt", "-o", "no/such/dir/out.jsonl"], "cannot write"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(project, args, message):
    (project / "bad.jsonl").write_text('1\n{"unclosed": \n3\n')
    run = gilwise("map", *args, cwd=project)
    assert run.returncode == 2
    assert message in run.stderr
    assert "Traceback" not in run.stderr


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
