"""A rich progress bar fed by the engine: done / total / rate / ETA / failures.

It refreshes from the engine's own thread (no refresh thread), so it never races the
workers, and it appears only once a batch has run for ``delay`` seconds.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

REFRESH_SECONDS = 0.1


def wanted(progress: bool | None) -> bool:
    """The default: a bar when a person watches (stderr is a terminal), not in pipes and CI."""
    if progress is not None:
        return progress
    return sys.stderr.isatty()


def same_terminal() -> bool:
    """Whether stdout is the terminal the bar is drawn on (stderr's): lines printed to it
    while the bar shows must go through the bar's console, above the bar, or they land on
    the bar's frame."""
    try:
        out, err = sys.stdout, sys.stderr
        return out.isatty() and err.isatty() and \
            os.fstat(out.fileno()).st_rdev == os.fstat(err.fileno()).st_rdev
    except (AttributeError, OSError, ValueError):  # closed, replaced, no file descriptor
        return False


class ProgressBar:
    """Counts finished items; draws once the batch has run ``delay`` seconds."""

    def __init__(self, total: int | None, label: str, delay: float = 1.0) -> None:
        self.total: int | None = total
        self.label: str = label
        self.delay: float = delay
        self.started: float = time.monotonic()
        self.done: int = 0
        self.failed: int = 0
        self._progress: Any = None
        self._task: Any = None
        self._last_draw = 0.0

    def advance(self, done: int, failed: int) -> None:
        self.done += done
        self.failed += failed
        now = time.monotonic()
        if now - self._last_draw < REFRESH_SECONDS:
            return
        if self._progress is None:
            if now - self.started < self.delay:
                return
            self._open()
        self._draw(now)

    def _open(self) -> None:
        from rich.console import Console  # imported only when a bar is drawn
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn() if self.total is not None else TextColumn("{task.completed}"),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[failures]}"),
            console=Console(stderr=True, soft_wrap=True),  # lines printed above it, unbroken
            auto_refresh=False,
            transient=False,
            # while it shows, print() on its terminal goes above it (rich's proxy for
            # sys.stdout); stdout elsewhere (a file, a pipe) is left alone
            redirect_stdout=same_terminal(),
        )
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=self.total, rate="", failures="")

    def _draw(self, now: float) -> None:
        assert self._progress is not None
        self._last_draw = now
        elapsed = max(now - self.started, 1e-9)
        failures = f"[red]{self.failed} failed" if self.failed else ""
        self._progress.update(
            self._task,
            completed=self.done + self.failed,
            rate=f"{(self.done + self.failed) / elapsed:,.0f}/s",
            failures=failures,
        )
        self._progress.refresh()

    def close(self) -> None:
        if self._progress is not None:
            self._draw(time.monotonic())
            self._progress.stop()
            self._progress = None
