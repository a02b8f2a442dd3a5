"""``gilwise lab``: measures on this machine what the GIL does, and says which common claims
about it hold here, as a table in the terminal, a PNG chart and a JSON file.

    from gilwise.lab import run_lab
    report = run_lab(Path("gil-lab"), quick=True)
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from gilwise.lab import process_cost, refcounts, scaling
from gilwise.lab.model import INCONCLUSIVE, Experiment, LabReport, Row, Verdict, machine
from gilwise.lab.runners import Settings

if TYPE_CHECKING:  # rich is imported where the lab prints: a bare interpreter running
    from rich.console import Console  # `gilwise lab --python`'s child needs only the stdlib

__all__ = ["EXPERIMENTS", "Experiment", "LabReport", "Row", "run_lab"]

JSON_NAME, PNG_NAME = "gil-lab.json", "gil-lab.png"

# (key, name, run): the name here lets a failed experiment still be reported by name.
EXPERIMENTS: list[tuple[str, str, Callable[[Settings], Experiment]]] = [
    ("refcounts", refcounts.NAME, refcounts.run),
    ("cpu", scaling.CPU_NAME, scaling.cpu_bound),
    ("io", scaling.IO_NAME, scaling.io_bound),
    ("c-release", scaling.C_NAME, scaling.gil_releasing),
    ("process-cost", process_cost.NAME, process_cost.run),
]


def _run_one(key: str, name: str, step: Callable[[Settings], Experiment],
             settings: Settings) -> Experiment:
    """Runs one experiment; one that fails is reported as such instead of ending the lab."""
    started = time.perf_counter()
    try:
        exp = step(settings)
    except Exception as exc:
        exp = Experiment(key, name, "(could not be tested)")
        last = traceback.extract_tb(exc.__traceback__)[-1]
        exp.judge(Verdict(INCONCLUSIVE, "it could not run here", f"{type(exc).__name__}: "
                          f"{exc} ({Path(last.filename).name}:{last.lineno})"))
    exp.seconds = time.perf_counter() - started
    return exp


def run_lab(out_dir: Path, quick: bool = False, console: Console | None = None) -> LabReport:
    """Runs every experiment, printing each table as it finishes, then writes
    ``out_dir/gil-lab.json`` and ``out_dir/gil-lab.png``. ``quick`` takes under 30 s."""
    from rich.console import Console

    from gilwise.lab.report import print_experiment, print_summary, write_json

    console = console or Console()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings.for_mode(quick)
    report = LabReport(quick=quick, machine=machine())
    m = report.machine
    console.print(f"[bold]gilwise lab[/] ({'quick' if quick else 'full'}): Python {m['python']}, "
                  f"GIL {'on' if m['gil_enabled'] else 'off'}, {m['usable_cores']} usable "
                  "core(s). Timings are the best of a few runs; pools start before the clock.\n")
    started = time.perf_counter()
    for number, (key, name, step) in enumerate(EXPERIMENTS, 1):
        # A plain line, not a spinner: a spinner's thread would make forking workers unsafe.
        console.print(f"[dim][{number}/{len(EXPERIMENTS)}] measuring: {name}…[/]")
        exp = _run_one(key, name, step, settings)
        report.experiments.append(exp)
        print_experiment(console, number, exp)
    try:
        from gilwise.lab.chart import render

        report.png_path = str(render(report, out_dir / PNG_NAME))
    except ImportError as exc:  # matplotlib is the optional extra gilwise[lab]
        console.print(f"[yellow]no chart: {exc}; pip install 'gilwise[lab]' to draw it[/]")
    report.seconds = time.perf_counter() - started
    report.json_path = str(out_dir / JSON_NAME)
    write_json(report, out_dir / JSON_NAME)
    print_summary(console, report)
    console.print(f"\nchart: {report.png_path or '(not drawn)'}\ndata:  {report.json_path}  "
                  f"({report.seconds:.1f} s)")
    return report
