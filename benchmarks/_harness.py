"""Shared by every benchmark: argument parsing, timing, medians, tables and verdicts."""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

GILWISE = "gilwise"


#: exit status of a benchmark that ran to the end but missed a target (1 is left to crashes)
MISSED = 3


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a fast smoke run (small sizes)")
    return p


def parse_args(doc: str | None) -> argparse.Namespace:
    return parser(doc).parse_args()


def exit_status(passed: list[bool]) -> int:
    return 0 if all(passed) else MISSED


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@dataclass
class Contender:
    """One way of doing the job. ``run`` does the timed work; ``setup`` (untimed) runs first."""

    name: str
    items: int
    run: Callable[[], object]
    setup: Callable[[], object] | None = None
    repeats: int | None = None  # fewer for slow peers
    note: str = ""
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def rate(self) -> float:
        return self.items / self.median


def measure(
    contenders: list[Contender], repeats: int, slow_repeats: int | None = None,
    slow_seconds: float = 0.25,
) -> list[Contender]:
    """Round-robin: repeat r of every contender runs before repeat r+1 of any, so that load
    from the rest of a shared machine lands on all of them alike. A contender whose first run
    took over ``slow_seconds`` stops after ``slow_repeats``; fast ones, which noise hurts
    most, get all ``repeats``."""
    for r in range(repeats):
        for c in contenders:
            limit = c.repeats or repeats
            if slow_repeats is not None and c.times and c.times[0] > slow_seconds:
                limit = min(limit, slow_repeats)
            if r < limit:
                if c.setup is not None:
                    c.setup()
                c.times.append(timed(c.run))
    return contenders


def table(
    title: str,
    contenders: list[Contender],
    unit: str = "tasks/s",
    extra: dict[str, Callable[[Contender], str]] | None = None,
) -> str:
    """Aligned text: median, spread, throughput, rate relative to gilwise (above 1: faster
    than gilwise) and any ``extra`` columns."""
    base = next((c.rate for c in contenders if c.name.startswith(GILWISE)), None)
    extra = extra or {}
    rows = [("contender", "items", "runs", "median s", "min-max s", unit, "rate / gilwise",
             *extra)]
    for c in contenders:
        rel = f"{c.rate / base:.2f}x" if base else "-"
        spread = f"{min(c.times):.3f}-{max(c.times):.3f}"
        rows.append((c.name + (f" [{c.note}]" if c.note else ""), f"{c.items:,}",
                     str(len(c.times)), f"{c.median:.3f}", spread, f"{c.rate:,.0f}", rel,
                     *(f(c) for f in extra.values())))
    return render(title, rows)


def render(title: str, rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [title, ""]
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}: {text}"


def fresh_state() -> None:
    """Undo what earlier contenders left in this process, before a 'one-shot' run.

    joblib keeps its loky workers (and two threads) for reuse; mpire starts tqdm's monitor
    thread, which outlives the pool. Both matter to gilwise too: it forks only while the
    parent has a single thread, and uses forkserver otherwise.
    """
    from joblib.externals.loky import reusable_executor
    from tqdm._monitor import TMonitor

    if reusable_executor._executor is not None:
        reusable_executor._executor.shutdown(wait=True)
        reusable_executor._executor = None
    for thread in threading.enumerate():
        if isinstance(thread, TMonitor):
            thread.exit()  # tqdm starts a new one when next needed


def threads_alive() -> int:
    """gilwise forks only while the parent has one thread: peers' helper threads must be gone."""
    return threading.active_count()
