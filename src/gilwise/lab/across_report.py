"""``gilwise lab --python`` shown: one table, one chart (a row of bars per interpreter and the
ideal line) and the JSON, written beside the lab's own files."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from gilwise.lab.across import JSON_NAME, PNG_NAME, AcrossReport, InterpreterRun, measure
from gilwise.lab.chart import COLORS, VERDICT_COLORS
from gilwise.lab.model import MARKS
from gilwise.lab.report import fmt_seconds, fmt_speedup, verdict_markup
from gilwise.lab.scaling import CPU_CLAIM, FREE_THREADED

BARS = {"threads": "threads", "processes": "processes", "interpreters": "sub-interpreters"}


def build_name(run: InterpreterRun, long: bool = False) -> str:
    """e.g. 3.13.5t, or 3.13.5t (free-threaded) where there is room."""
    if not run.free_threaded:
        return run.python
    return f"{run.python}t (free-threaded)" if long else f"{run.python}t"


def print_table(console: Console, report: AcrossReport) -> None:
    """One row per interpreter: one thread's time and cost, each way's speedup, the verdict."""
    table = Table(title=f"Pure-Python CPU-bound work on each interpreter ({report.cores} "
                  "workers)", title_style="bold", caption="one thread: the same work on "
                  "each; cost: its time over the fastest's (versions differ, so this is not "
                  "the GIL's cost alone)", caption_justify="left")
    for column in ("python", "one thread", "cost", "threads", "processes", "interpreters",
                   "verdict"):
        table.add_column(column, justify="left" if column in ("python", "verdict")
                         else "right")
    for run in report.runs:
        cost = run.relative_single_thread
        table.add_row(build_name(run), fmt_seconds(run.single_thread_seconds),
                      "—" if cost is None else f"{cost:.2f}×",
                      *(fmt_speedup(run.speedup(way)) for way in BARS),
                      verdict_markup(run.experiment))
    for failed in report.failed:
        table.add_row(f"[dim]{failed.python}[/]", "—", "—", "—", "—", "—",
                      f"[dim]could not run: {failed.reason}[/]")
    console.print(table)
    console.print(f"claim: {CPU_CLAIM}")
    for run in report.runs:
        console.print(f"[bold]{build_name(run, True)}[/]: {verdict_markup(run.experiment)}: "
                      f"{run.experiment.explanation}")
    if report.removal is not None:
        console.print(f"\nclaim: {report.removal.claim}\n{verdict_markup(report.removal)} on "
                      f"this machine: {report.removal.explanation}")


def draw(report: AcrossReport) -> Any:
    """A group of bars per interpreter (threads, processes, sub-interpreters), the ideal
    speedup with every core busy, and 1× (one thread)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 6.5), layout="constrained")
    width = 0.26
    for offset, (way, label) in enumerate(BARS.items()):
        color = COLORS[label]
        for i, run in enumerate(report.runs):
            speedup = run.speedup(way)
            if speedup is None:
                continue
            name = FREE_THREADED if way == "threads" and run.free_threaded else label
            bar = ax.bar(i + (offset - 1) * width, speedup, width,
                         color=COLORS.get(name, color), label=name)
            ax.bar_label(bar, labels=[f"{speedup:.2f}×"], fontsize=8)
    ax.axhline(report.cores, color="gray", linestyle="--",
               label=f"ideal ({report.cores} cores)")
    ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":", label="one thread (1×)")
    ticks = []
    for run in report.runs:
        cost = run.relative_single_thread
        seconds = fmt_seconds(run.single_thread_seconds)
        ticks.append(f"{build_name(run, True)}\none thread {seconds}"
                     + ("" if cost is None else f" ({cost:.2f}×)") + "\n"
                     + f"{MARKS[run.experiment.verdict]} threads claim {run.experiment.verdict}")
    ax.set_xticks(range(len(report.runs)), ticks, fontsize=9)
    for tick, run in zip(ax.get_xticklabels(), report.runs):
        tick.set_color(VERDICT_COLORS[run.experiment.verdict])
    handles, labels = ax.get_legend_handles_labels()
    unique: dict[str, Any] = {}
    for handle, name in zip(handles, labels):
        unique.setdefault(name, handle)  # one entry per kind of bar or line
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left")
    ax.set_ylabel("speedup over one thread on the same build (×)")
    ax.set_ylim(0, max(report.cores + 0.5, ax.get_ylim()[1] * 1.1))
    ax.grid(axis="y", alpha=0.3)
    removal = report.removal
    title = "gilwise lab across interpreters: the same pure-Python CPU-bound work"
    if removal is not None:
        title += "\n" + textwrap.fill(f"“{removal.claim}”: {MARKS[removal.verdict]} "
                                      f"{removal.label}", 110)
    ax.set_title(title, fontsize=11, fontweight="bold",
                 color="black" if removal is None else VERDICT_COLORS[removal.verdict])
    return fig


def render(report: AcrossReport, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig = draw(report)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run_across(pythons: list[str], out_dir: Path, quick: bool = False,
               console: Console | None = None) -> AcrossReport:
    """Measures every interpreter, prints the table, writes gil-lab-pythons.{json,png}."""
    console = console or Console()
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    console.print(f"[bold]gilwise lab[/] across {len(pythons)} interpreter(s) "
                  f"({'quick' if quick else 'full'}): the CPU-bound experiment under each\n")
    def say(line: str) -> None:  # one line each, unwrapped: a failure reads as one line
        console.print(f"[dim]{line}[/]", soft_wrap=True, highlight=False)

    report = measure(pythons, quick, say)
    print_table(console, report)
    if report.runs:
        try:
            report.png_path = str(render(report, out_dir / PNG_NAME))
        except ImportError as exc:  # matplotlib is the optional extra gilwise[lab]
            console.print(f"[yellow]no chart: {exc}; pip install 'gilwise[lab]' to draw it[/]")
    report.seconds = time.perf_counter() - started
    report.json_path = str(out_dir / JSON_NAME)
    (out_dir / JSON_NAME).write_text(json.dumps(report.to_dict(), indent=2,
                                                ensure_ascii=False) + "\n", encoding="utf-8")
    console.print(f"\nchart: {report.png_path or '(not drawn)'}\ndata:  {report.json_path}  "
                  f"({report.seconds:.1f} s)")
    return report
