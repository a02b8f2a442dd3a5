"""The lab in the terminal (one rich table per experiment, then a summary) and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gilwise.lab.model import CONFIRMED, INCONCLUSIVE, MARKS, REFUTED, Experiment, LabReport, Row

STYLES = {CONFIRMED: "bold green", REFUTED: "bold red", INCONCLUSIVE: "bold yellow"}


def fmt_seconds(seconds: float | None) -> str:
    """A duration in the unit that keeps it readable: s, ms or µs."""
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def fmt_speedup(speedup: float | None) -> str:
    if speedup is None:
        return "—"
    return f"{speedup:.2f}×" if speedup >= 0.1 else f"{speedup:.2g}×"


def verdict_markup(exp: Experiment) -> str:
    """The verdict with its mark, e.g. "? inconclusive: the machine is busy", in colour."""
    return f"[{STYLES[exp.verdict]}]{MARKS[exp.verdict]} {exp.label}[/]"


def _row_cells(row: Row) -> tuple[str, str, str, str, str]:
    if row.skipped is not None:
        return (f"[dim]{row.variant}[/]", "—", "—", "—", f"[dim]skipped: {row.skipped}[/]")
    workers = str(row.workers) if row.workers else "—"
    return (row.variant, workers, fmt_seconds(row.seconds), fmt_speedup(row.speedup), row.note)


def print_experiment(console: Console, number: int, exp: Experiment) -> None:
    """One experiment: its claim and control, its rows, and the verdict the rows gave."""
    table = Table(title=f"{number}. {exp.name}", title_justify="left", title_style="bold",
                  caption=f"claim: {exp.claim}\ncontrol: {exp.control}",
                  caption_justify="left")
    table.add_column("variant")
    table.add_column("workers", justify="right")
    table.add_column("time", justify="right")
    table.add_column("speedup", justify="right")
    table.add_column("notes")
    for row in exp.rows:
        table.add_row(*_row_cells(row))
    console.print(table)
    console.print(f"{verdict_markup(exp)} on this machine: {exp.explanation}\n")


def print_summary(console: Console, report: LabReport) -> None:
    table = Table(title="What the GIL does on this machine", title_style="bold")
    table.add_column("#", justify="right")
    table.add_column("experiment")
    table.add_column("claim")
    table.add_column("verdict")
    for number, exp in enumerate(report.experiments, 1):
        table.add_row(str(number), exp.name, exp.claim, verdict_markup(exp))
    console.print(table)


def write_json(report: LabReport, path: Path) -> Path:
    """Writes every row and verdict, with the machine it ran on, so runs can be compared."""
    path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path
