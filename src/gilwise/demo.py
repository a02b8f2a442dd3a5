"""``gilwise demo``: the same CPU-bound batch run sequentially, in threads and in processes,
then what auto mode picks, with the speedups measured on this machine."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import gilwise
from gilwise._options import usable_cores


def collatz_steps(n: int) -> int:
    """Pure-Python CPU-bound work that holds the GIL: total Collatz steps below n."""
    total = 0
    for start in range(1, n):
        x = start
        while x != 1:
            x = x // 2 if x % 2 == 0 else 3 * x + 1
            total += 1
    return total


def _timed(run) -> tuple[float, list[int]]:
    started = time.perf_counter()
    results = run()
    return time.perf_counter() - started, results


def run_demo(
    items: int = 48, size: int = 5_000, console: Console | None = None, lab_out: Path | None = None
) -> int:
    console = console or Console()
    cores = usable_cores()
    work = [size + i for i in range(items)]
    console.print(f"[bold]gilwise demo[/]: {items} CPU-bound tasks (pure Python) on {cores} "
                  "usable core(s)\n")
    rows = []
    base, expected = _timed(lambda: [collatz_steps(n) for n in work])
    rows.append(("sequential", "1", base, "the reference"))
    for mode in ("threads", "processes", "auto"):
        result = gilwise.map(collatz_steps, work, mode=mode, workers=None if mode == "auto"
                             else cores, progress=False)
        seconds, values = _timed(lambda r=result: list(r))
        if values != expected:
            console.print(f"[red]{mode} gave different results[/]")
            return 1
        info = result.info
        label = mode if mode != "auto" else f"auto → {info.mode}"
        rows.append((label, str(info.workers), seconds, info.reason))
    table = Table(title="The same batch four ways")
    for column in ("how", "workers", "seconds", "speedup", "why"):
        table.add_column(column, justify="right" if column in ("seconds", "speedup") else "left")
    for label, workers, seconds, why in rows:
        table.add_row(label, workers, f"{seconds:.2f}", f"{base / seconds:.2f}×", why)
    console.print(table)
    console.print(
        "\nThreads share one GIL, so pure-Python work gains nothing from them; processes "
        "each have their own. Auto measured the first tasks and chose for you."
    )
    if lab_out is not None:
        from gilwise.lab import run_lab

        console.print()
        run_lab(lab_out, quick=True, console=console)
    return 0
