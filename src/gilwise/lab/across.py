"""``gilwise lab --python``: the CPU-bound experiment under several interpreters side by side
(GIL builds, 3.14's sub-interpreters, a free-threaded build), each in its own process with
gilwise importable from this source tree, and the two claims the seed article makes about them:
threads give no speedup on CPU-bound work, and the GIL cannot be removed without slowing
things down."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gilwise
from gilwise.lab.across_child import MARKER
from gilwise.lab.model import INCONCLUSIVE, Check, Experiment, Row, decide
from gilwise.lab.runners import Settings, core_counts, task_count, usable_cores
from gilwise.lab.scaling import (
    CPU_CLAIM,
    FREE_THREADED,
    HELPS,
    SPARE_CORES,
    cpu_verdict,
    spin_loops,
)

JSON_NAME, PNG_NAME = "gil-lab-pythons.json", "gil-lab-pythons.png"
SOURCE = str(Path(gilwise.__file__).resolve().parent.parent)  # what goes on PYTHONPATH
PREFIXES = {"PY314_PREFIX": "/opt/python3.14", "PY313T_PREFIX": "/opt/python3.13t"}
REMOVAL_CLAIM = "the GIL cannot be removed without slowing things down"
REMOVAL_CONTROL = ("the free-threaded run's timings were steady and its processes scaled, and a "
                   "build with a GIL ran the same work with its own control held (for the "
                   "single-thread cost)")
WAYS = {"threads": ("threads", FREE_THREADED), "processes": ("processes",),
        "interpreters": ("sub-interpreters",)}
OLDEST = (3, 10)  # pyproject's requires-python: an older one is told so, in one line
# What each interpreter runs first, in syntax Python 2 parses too: a too-old one says so in one
# line instead of failing somewhere inside gilwise's import
BOOT = ("import sys, runpy; v = sys.version_info; oldest = tuple(map(int, sys.argv[1].split('.')))"
        "\nif v[:2] < oldest: sys.exit('Python %d.%d.%d is too old: gilwise needs %d.%d or "
        "newer' % (v[0], v[1], v[2], oldest[0], oldest[1]))"
        "\nsys.argv = sys.argv[1:]; runpy.run_module('gilwise.lab.across_child', "
        "run_name='__main__', alter_sys=True)")


@dataclass
class InterpreterRun:
    """One interpreter's CPU-bound experiment, as its child process measured it."""

    python: str
    free_threaded: bool
    executable: str
    experiment: Experiment
    relative_single_thread: float | None = None  # its one thread's time / the fastest's

    @property
    def single_thread_seconds(self) -> float | None:
        rows = self.experiment.measured("sequential")
        return rows[0].seconds if rows else None

    def speedup(self, way: str) -> float | None:
        """The speedup with the most workers of ``way`` (threads, processes, interpreters);
        None where that way does not exist on this build."""
        rows = [r for label in WAYS[way] for r in self.experiment.measured(label)]
        return max(rows, key=lambda r: r.workers).speedup if rows else None

    def to_dict(self) -> dict[str, Any]:
        exp = self.experiment
        return {"python": self.python, "free_threaded": self.free_threaded,
                "executable": self.executable,
                "single_thread_seconds": self.single_thread_seconds,
                "relative_single_thread": self.relative_single_thread,
                "speedups": {way: self.speedup(way) for way in WAYS},
                "threads_claim": {"verdict": exp.verdict, "because": exp.because,
                                  "explanation": exp.explanation, "label": exp.label}}


@dataclass
class Failed:
    """An interpreter that could not run the experiment, and why, in one line."""

    python: str
    reason: str


@dataclass
class AcrossReport:
    """Every interpreter's run, those that failed, and the GIL-removal verdict."""

    quick: bool
    cores: int
    runs: list[InterpreterRun] = field(default_factory=list)
    failed: list[Failed] = field(default_factory=list)
    removal: Experiment | None = None
    seconds: float = 0.0
    json_path: str | None = None
    png_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        removal = self.removal
        return {"quick": self.quick, "usable_cores": self.cores, "claim": CPU_CLAIM,
                "interpreters": [run.to_dict() for run in self.runs],
                "failed": [{"python": f.python, "reason": f.reason} for f in self.failed],
                "gil_removal": None if removal is None else {
                    "claim": removal.claim, "verdict": removal.verdict,
                    "because": removal.because, "explanation": removal.explanation,
                    "label": removal.label},
                "seconds": self.seconds}


def check_python(path: str) -> str:
    """The interpreter ``--python`` names, as a path; a missing one is a usage error."""
    found = shutil.which(path) if os.sep not in path else path
    if not found or not os.path.isfile(found):
        raise ValueError(f"--python {path}: no such interpreter")
    if not os.access(found, os.X_OK):
        raise ValueError(f"--python {path}: not executable")
    return found


def discover() -> list[str]:
    """The interpreters the project's tools installed (PY314_PREFIX, PY313T_PREFIX) and
    python3.X / python3.Xt on PATH, with this one first; one per build and version."""
    found = [sys.executable]
    for variable, default in PREFIXES.items():
        prefix = os.environ.get(variable, default)
        for pattern in ("usr/bin/python3.*", "bin/python3.*"):
            found += sorted((p for p in glob.glob(os.path.join(prefix, pattern))
                             if not p.endswith("-config")),  # python3.13t before python3.13
                            key=lambda p: (not p.endswith("t"), p))
    for minor in range(OLDEST[1], 21):
        for suffix in ("", "t"):
            path = shutil.which(f"python3.{minor}{suffix}")
            if path:
                found.append(path)
    seen: set[str] = set()
    builds: dict[str, str] = {}
    for path in found:
        real = os.path.realpath(path)
        if real in seen or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        build = _build(path)
        if build and build not in builds:
            builds[build] = path
    return list(builds.values())


def _build(path: str) -> str | None:
    """e.g. "3.13.5 free-threaded", asked of the interpreter itself; None if it will not say."""
    code = ("import platform, sysconfig; print(platform.python_version(), "
            "'free-threaded' if sysconfig.get_config_var('Py_GIL_DISABLED') else 'gil')")
    try:
        done = subprocess.run([path, "-c", code], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def run_child(python: str, loops: int, rounds: int, timeout: float) -> InterpreterRun | Failed:
    """Runs the experiment under ``python`` in its own process; a failure comes back as one
    line saying why (crash, too old, no result) instead of ending the lab."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SOURCE, env.get("PYTHONPATH")) if p)
    oldest = ".".join(map(str, OLDEST))
    command = [python, "-c", BOOT, oldest, str(loops), str(rounds)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return Failed(python, f"took over {timeout:.0f} s")
    except OSError as exc:
        return Failed(python, f"could not start: {exc.strerror or exc}")
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        errors = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        last = errors[-1] if errors else "printed no result (is it a Python?)"
        return Failed(python, f"exit {done.returncode}: {last}"[:300])
    return from_child(json.loads(lines[-1].removeprefix(MARKER)), python)


def from_child(data: dict[str, Any], python: str) -> InterpreterRun:
    """The child's measurement, judged here by the CPU experiment's rule (``cpu_verdict``):
    the threads claim, tested only where that run's own control held."""
    exp = Experiment("cpu", f"Python {data['python']}", CPU_CLAIM, SPARE_CORES,
                     rows=[Row(**row) for row in data["rows"]])
    exp.judge(cpu_verdict(exp, data["cores"], data["free_threaded"], data["load_average"]))
    return InterpreterRun(data["python"], data["free_threaded"], python, exp)


def removal_verdict(runs: list[InterpreterRun], cores: int) -> Experiment:
    """The second claim, on the free-threaded build: its threads' speedup net of its one
    thread's extra cost (against the fastest build with a GIL whose timings were steady;
    versions differ) must stay under HELPS for the claim to hold. Judged only where both
    builds' own controls held."""
    from gilwise.lab.scaling import _spare_cores  # the CPU experiment's control, unchanged

    exp = Experiment("gil-removal", "a build without the GIL", REMOVAL_CLAIM, REMOVAL_CONTROL)
    free = next((r for r in runs if r.free_threaded), None)
    gil = [r for r in runs if not r.free_threaded and r.single_thread_seconds]
    expects = (f"the free-threaded build's threads, net of its single-thread cost, under "
               f"{HELPS}× the fastest GIL build's one thread")
    if free is None:  # nothing to weigh: the claim and its control both unmeasured
        missing = Check(expects, "no free-threaded interpreter ran", None)
        exp.judge(decide(missing, missing, ""))
        return exp
    threads, own = free.speedup("threads"), free.single_thread_seconds
    control, failed = _spare_cores(free.experiment, FREE_THREADED, cores, None)
    if not gil or threads is None or not own:
        exp.judge(decide(Check(expects, "no build with a GIL ran the same work", None),
                         control, failed))
        return exp
    steady = [r for r in gil if r.experiment.verdict != INCONCLUSIVE]  # its control held
    best = min(steady or gil, key=lambda r: r.single_thread_seconds or 0)
    if control.holds and not steady:  # a disturbed one thread would skew the cost
        control = Check("a build with a GIL whose own control held",
                        f"{best.python}'s did not ({best.experiment.because})", False)
        failed = best.experiment.because
    cost = own / (best.single_thread_seconds or own)
    net = threads / cost
    measured = (f"{free.python} free-threaded: threads {threads:.2f}×, one thread {cost:.2f}× "
                f"the time of {best.python} with its GIL (versions differ), so {net:.2f}× "
                "its speed overall")
    exp.judge(decide(Check(expects, measured, net < HELPS), control, failed,
                     "removing the GIL cost more than its threads gained here",
                     "the GIL is gone on that build and its threads run Python in parallel"))
    return exp


def measure(pythons: list[str], quick: bool, report_line: Any = print,
            rounds: int | None = None) -> AcrossReport:
    """Runs every interpreter in turn (never two at once: they would share the cores) on the
    same work, then judges both claims. ``rounds``: timed rounds, fewer for the demo."""
    cores = usable_cores()
    settings = Settings.for_mode(quick)
    loops = spin_loops(settings.cpu_seconds, task_count(core_counts(cores)))
    report = AcrossReport(quick=quick, cores=cores)
    for python in pythons:
        report_line(f"measuring: {python}…")
        result = run_child(python, loops, rounds or settings.cpu_rounds, 120 if quick else 600)
        if isinstance(result, Failed):
            report.failed.append(result)
            report_line(f"{python}: could not run the experiment: {result.reason}")
        else:
            report.runs.append(result)
    fastest = min((r.single_thread_seconds for r in report.runs if r.single_thread_seconds),
                  default=None)
    for run in report.runs:
        if fastest and run.single_thread_seconds:
            run.relative_single_thread = run.single_thread_seconds / fastest
    report.removal = removal_verdict(report.runs, cores)
    return report

