"""`gilwise lab --python`: the CPU-bound experiment under several interpreters at once.

A real quick run across the interpreters CI installs (this one, CPython 3.14 and free-threaded
3.13t, bare: gilwise comes from the source tree) checks the JSON's shape and what each build
can and cannot do, beside an interpreter that crashes; every verdict is checked both ways on
synthetic measurements. 3.14 or 3.13t absent: skipped, saying so, unless
GILWISE_REQUIRE_LAB_PYTHONS=1 (CI), GILWISE_REQUIRE_INTERPRETERS=1 (3.14) or
GILWISE_REQUIRE_FREE_THREADED=1 (3.13t) make the skip a failure.
"""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from gilwise.cli.demo import across_step
from gilwise.cli.main import main
from gilwise.lab import across as across_module
from gilwise.lab.across import AcrossReport, Failed, from_child, removal_verdict, run_child
from gilwise.lab.across_report import print_table, render
from gilwise.lab.model import CONFIRMED, INCONCLUSIVE, REFUTED
from gilwise.lab.scaling import FREE_THREADED

SRC = str(Path(__file__).resolve().parents[2] / "src")
ALL = os.environ.get("GILWISE_REQUIRE_LAB_PYTHONS") == "1"
REQUIRED = {"3.14": ALL or os.environ.get("GILWISE_REQUIRE_INTERPRETERS") == "1",
            "3.13t": ALL or os.environ.get("GILWISE_REQUIRE_FREE_THREADED") == "1"}
PLACES = {"3.14": (os.environ.get("PY314_PREFIX", "/opt/python3.14"), "usr/bin/python3.14"),
          "3.13t": (os.environ.get("PY313T_PREFIX", "/opt/python3.13t"), "bin/python3.13t")}


def installed(name: str) -> str:
    """The interpreter the project's tools installed (or one on PATH); skip, or fail where
    required, when there is none."""
    prefix, rest = PLACES[name]
    path = os.path.join(prefix, rest)
    found = path if os.access(path, os.X_OK) else shutil.which(f"python{name}")
    if found is None:
        why = f"python{name} is not installed here ({path}; `make interpreters` installs it)"
        if REQUIRED[name]:
            pytest.fail(f"required here, but {why}")
        pytest.skip(why)
    return found


@pytest.fixture(scope="module")
def across(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, str],
                                                              str]:
    """One real quick run: this Python, 3.14, 3.13t and one that crashes, as a user runs it."""
    pythons = {"this": sys.executable, "3.14": installed("3.14"), "3.13t": installed("3.13t")}
    out = tmp_path_factory.mktemp("across")
    broken = out / "python-broken"
    broken.write_text("#!/bin/sh\necho 'Fatal Python error: init failed' >&2\nexit 3\n")
    broken.chmod(0o755)
    pythons["broken"] = str(broken)
    command = [sys.executable, "-m", "gilwise", "lab", "--quick", "--json", "--out", str(out)]
    for path in pythons.values():
        command += ["--python", path]
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), pythons, done.stderr


def test_json_has_one_entry_per_interpreter_that_ran(across) -> None:
    data, pythons, _ = across
    by_path = {entry["executable"]: entry for entry in data["interpreters"]}
    assert set(by_path) == {pythons["this"], pythons["3.14"], pythons["3.13t"]}
    for entry in data["interpreters"]:
        assert set(entry) >= {"python", "free_threaded", "executable", "single_thread_seconds",
                              "speedups"}
        assert set(entry["speedups"]) == {"threads", "processes", "interpreters"}
        assert entry["single_thread_seconds"] > 0
        assert entry["speedups"]["threads"] > 0 and entry["speedups"]["processes"] > 0
        assert entry["relative_single_thread"] >= 1.0
    assert min(e["relative_single_thread"] for e in data["interpreters"]) == 1.0
    this, py314, py313t = (by_path[pythons[k]] for k in ("this", "3.14", "3.13t"))
    assert this["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert py314["python"].startswith("3.14.") and not py314["free_threaded"]
    assert py313t["python"].startswith("3.13.") and py313t["free_threaded"]
    assert py314["speedups"]["interpreters"] > 0  # concurrent.interpreters exists there
    assert py313t["speedups"]["interpreters"] is None
    if sys.version_info < (3, 14):
        assert this["speedups"]["interpreters"] is None


def test_a_build_with_a_gil_never_refutes_the_threads_claim(across) -> None:
    data, _, _ = across
    for entry in data["interpreters"]:
        if not entry["free_threaded"]:
            assert entry["threads_claim"]["verdict"] in (CONFIRMED, INCONCLUSIVE), entry
    assert data["gil_removal"]["verdict"] in (CONFIRMED, REFUTED, INCONCLUSIVE)


def test_an_interpreter_that_fails_is_one_line_and_the_others_go_on(across) -> None:
    data, pythons, printed = across
    assert data["failed"] == [{"python": pythons["broken"],
                               "reason": "exit 3: Fatal Python error: init failed"}]
    assert len(data["interpreters"]) == 3
    assert f"{pythons['broken']}: could not run the experiment: exit 3" in printed


def test_chart_and_json_files_are_written(across, tmp_path: Path) -> None:
    data, _, printed = across
    chart = printed.split("chart: ")[1].split()[0]
    assert Path(chart).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads(Path(chart).with_suffix(".json").read_text())["interpreters"] \
        == data["interpreters"]


def test_a_missing_python_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    assert main(["lab", "--python", sys.executable, "--python", "/nowhere/python3.99",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "gilwise: error: --python /nowhere/python3.99: no such interpreter\n"
    assert list(tmp_path.iterdir()) == []  # nothing ran


@pytest.mark.parametrize("bad", ["/nowhere/python3.99", "", "not-on-path-python", "folder",
                                 "not-executable"])
def test_a_bad_python_is_one_line_and_exit_2(bad: str, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    if bad == "folder":
        bad = str(tmp_path)
    elif bad == "not-executable":
        (tmp_path / "python3").write_text("#!/bin/sh\n")
        bad = str(tmp_path / "python3")
    assert main(["lab", "--python", sys.executable, "--python", bad, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"gilwise: error: --python {bad}: ") and err.count("\n") == 1, err
    assert not out.exists()  # nothing ran


def test_json_without_an_interpreter_list_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["lab", "--json", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gilwise: error: --json needs --python") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def old_pythons() -> list[str]:
    """Real interpreters older than gilwise supports (pyenv's, python2 on PATH), if any."""
    found = glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin/python"))
    found += [p for p in (shutil.which("python2"), shutil.which("python2.7")) if p]
    old = []
    for path in found:
        done = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2] < (3, 10))"],
                              capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == "True":
            old.append(path)
    return old[:2]


def test_an_interpreter_too_old_says_so_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """This Python, told gilwise needs 3.99 (the threshold is the one thing changed), and any
    real older Python here, Python 2 included: one line naming the version, not a traceback
    from inside gilwise's import."""
    monkeypatch.setattr(across_module, "OLDEST", (3, 99))
    this = "{}.{}.{}".format(*sys.version_info[:3])
    assert run_child(sys.executable, 1000, 1, 60) == Failed(
        sys.executable, f"exit 1: Python {this} is too old: gilwise needs 3.99 or newer")
    monkeypatch.undo()
    for path in old_pythons():
        failed = run_child(path, 1000, 1, 60)
        assert isinstance(failed, Failed), path
        assert failed.reason.startswith("exit 1: Python ") and failed.reason.endswith(
            "is too old: gilwise needs 3.10 or newer"), failed.reason


def test_programs_that_are_not_python_are_one_line_each_and_exit_1(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    false, echo = shutil.which("false"), shutil.which("echo")
    assert false and echo
    assert main(["lab", "--quick", "--python", false, "--python", echo, "--out",
                 str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    for path, code in ((false, 1), (echo, 0)):
        assert (f"{path}: could not run the experiment: exit {code}: printed no result (is it "
                "a Python?)\n") in printed
    assert json.loads((tmp_path / "gil-lab-pythons.json").read_text())["interpreters"] == []


@pytest.fixture
def alone(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing to discover but this Python: the project's install folders and PATH empty."""
    for variable in across_module.PREFIXES:
        monkeypatch.setenv(variable, str(tmp_path / "none"))
    monkeypatch.setenv("PATH", str(tmp_path / "none"))


def test_all_pythons_with_python_runs_those_named_and_those_found(
        alone: None, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    false = "/bin/false"
    assert main(["lab", "--quick", "--json", "--all-pythons", "--python", false, "--out",
                 str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["python"] for f in data["failed"]] == [false]
    assert [e["executable"] for e in data["interpreters"]] == [sys.executable]


def test_demo_skips_the_row_where_no_other_python_is_found(alone: None) -> None:
    buffer = io.StringIO()
    across_step(Console(file=buffer, width=200))
    assert "across interpreters: skipped, no other Python found" in buffer.getvalue()


def test_demo_shows_a_row_per_interpreter_where_they_are_installed() -> None:
    py314, py313t = installed("3.14"), installed("3.13t")
    buffer = io.StringIO()
    across_step(Console(file=buffer, width=200))
    printed = buffer.getvalue()
    assert "across interpreters" in printed and "skipped" not in printed
    for python in (sys.executable, py314, py313t):
        assert f"measuring: {python}" in printed
    version = subprocess.run([py313t, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert f"{version}t (free-threaded)" in printed
    assert "the GIL cannot be removed without slowing things down" in printed


# ---------------------------------------------------------------- synthetic measurements


def child(python: str, threads: float, processes: float, free: bool = False,
          interpreters: float | None = None, one_thread: float = 1.0,
          seconds: float = 1.0) -> dict[str, Any]:
    """What a child prints: the sequential loop taking ``seconds``, each way at 1 and 2
    workers (the given speedup is the two-worker one)."""
    rows = [{"variant": "sequential", "workers": 1, "seconds": seconds, "speedup": 1.0}]
    ways = [(FREE_THREADED if free else "threads", one_thread, threads),
            ("processes", 1.0, processes)]
    if interpreters is not None:
        ways.append(("sub-interpreters", 1.0, interpreters))
    for label, alone, best in ways:
        rows += [{"variant": label, "workers": 1, "seconds": seconds / alone, "speedup": alone},
                 {"variant": label, "workers": 2, "seconds": seconds / best, "speedup": best}]
    return {"python": python, "free_threaded": free, "executable": python, "cores": 2,
            "load_average": 0.5, "rows": rows}


@pytest.mark.parametrize(("threads", "processes", "free", "one_thread", "verdict"), [
    (1.0, 1.9, False, 1.0, CONFIRMED),  # a GIL: threads take turns
    (1.8, 1.9, False, 1.0, REFUTED),  # threads gained though the cores were free
    (1.9, 1.9, True, 1.0, REFUTED),  # free-threaded: they run in parallel
    (1.0, 1.9, True, 1.0, CONFIRMED),  # a free-threaded build whose threads gained nothing
    (1.0, 1.05, False, 1.0, INCONCLUSIVE),  # processes did not scale: the cores were busy
    (1.9, 1.9, True, 1.4, INCONCLUSIVE),  # one thread alone beat the loop: disturbed
])
def test_threads_claim_on_each_interpreter(threads, processes, free, one_thread,
                                           verdict) -> None:
    run = from_child(child("3.x", threads, processes, free, one_thread=one_thread), "py")
    assert run.experiment.verdict == verdict, run.experiment.explanation


@pytest.mark.parametrize(("ft_threads", "ft_processes", "ft_seconds", "verdict", "because"), [
    (1.9, 1.9, 1.2, REFUTED, ""),  # 1.9 / 1.2 = 1.58× the GIL build's speed overall
    (1.9, 1.9, 2.0, CONFIRMED, ""),  # its one thread so slow that threads do not make up
    (1.0, 1.9, 1.0, CONFIRMED, ""),  # threads gained nothing though processes scaled
    (1.9, 1.05, 1.2, INCONCLUSIVE, "the machine is busy"),  # its control failed
])
def test_gil_removal_claim_weighs_the_speedup_against_the_single_thread_cost(
        ft_threads, ft_processes, ft_seconds, verdict, because) -> None:
    runs = [from_child(child("3.14.0", 1.0, 1.9, interpreters=1.9), "a"),
            from_child(child("3.13.0", ft_threads, ft_processes, free=True,
                             seconds=ft_seconds), "b")]
    exp = removal_verdict(runs, cores=2)
    assert (exp.verdict, exp.because) == (verdict, because), exp.explanation
    if verdict != INCONCLUSIVE:
        assert f"one thread {ft_seconds:.2f}× the time of 3.14.0" in exp.explanation


@pytest.mark.parametrize(("gil_processes", "verdict"), [(1.9, REFUTED), (1.05, INCONCLUSIVE)])
def test_gil_removal_claim_needs_the_gil_builds_own_control(gil_processes, verdict) -> None:
    """The single-thread cost is weighed against a GIL build only where that build's own
    timings held (its processes scaled): else a busy moment there would decide it."""
    runs = [from_child(child("3.14.0", 1.0, gil_processes), "a"),
            from_child(child("3.13.0", 1.9, 1.9, free=True, seconds=1.2), "b")]
    exp = removal_verdict(runs, cores=2)
    assert exp.verdict == verdict, exp.explanation
    if verdict == INCONCLUSIVE:
        assert exp.because == "the machine is busy"
        assert "3.14.0's did not (the machine is busy)" in exp.explanation


@pytest.mark.parametrize("free", [True, False])
def test_gil_removal_claim_needs_both_kinds_of_build(free: bool) -> None:
    """Only a free-threaded build, or none: nothing to weigh, so nothing is judged."""
    exp = removal_verdict([from_child(child("3.13.0", 1.9, 1.9, free=free), "a")], cores=2)
    assert exp.verdict == INCONCLUSIVE
    assert exp.because == "it could not be measured here"
    missing = "no build with a GIL ran the same work" if free else \
        "no free-threaded interpreter ran"
    assert exp.explanation.startswith(f"{missing} (needed: the free-threaded build's threads")


def test_speedups_are_null_where_a_way_does_not_exist_and_the_table_and_chart_show_it(
        tmp_path: Path) -> None:
    report = AcrossReport(quick=True, cores=2)
    report.runs = [from_child(child("3.11.0", 1.0, 1.9), "/a/python3.11"),
                   from_child(child("3.14.0", 1.0, 1.9, interpreters=1.8), "/b/python3.14"),
                   from_child(child("3.13.0", 1.9, 1.9, free=True, seconds=1.3), "/c/3.13t")]
    report.failed = [Failed("/d/python3.8", "exit 1: SyntaxError: invalid syntax")]
    report.removal = removal_verdict(report.runs, 2)
    data = report.to_dict()
    assert [e["speedups"]["interpreters"] for e in data["interpreters"]] == [None, 1.8, None]
    assert [e["free_threaded"] for e in data["interpreters"]] == [False, False, True]
    buffer = io.StringIO()
    print_table(Console(file=buffer, width=160), report)
    printed = buffer.getvalue()
    for text in ("3.11.0", "3.14.0", "3.13.0t", "1.80×", "1.30×", "/d/python3.8",
                 "could not run: exit 1: SyntaxError", "refuted", "confirmed"):
        assert text in printed
    assert render(report, tmp_path / "c.png").read_bytes().startswith(b"\x89PNG")
