"""The scrape's progress line on stderr: pages, pages/s, errors by kind, and the hosts with
the most URLs waiting (read from the input or found by a crawl, not yet finished). Drawn
by the thread reading the records (no refresh thread), at most every REFRESH_SECONDS, once
the run has gone on for ``delay`` seconds."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

REFRESH_SECONDS = 0.1
HOSTS_SHOWN = 3
# where a record came from: fetched by this run, given back by the journal of an earlier
# one, or made without a fetch (an invalid URL, robots.txt's no, an input line repeating a
# URL already done): rates count only the first
FETCHED, JOURNAL, UNFETCHED = "fetched", "journal", "unfetched"


def error_kind(record: dict[str, Any]) -> str:
    """The kind of a record's error (``kind``; "error" for a record without one)."""
    return record.get("kind") or "error"


class ScrapeProgress:
    """``queued(host)`` as a URL goes in, ``finished(record, host, source)`` as its record
    comes out (``host`` None for a record made without fetching); ``close`` at the end."""

    def __init__(self, delay: float = 1.0) -> None:
        self.delay = delay
        self.started: float = time.monotonic()
        self.pages: int = 0
        self.sources: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.waiting: Counter[str] = Counter()  # host -> URLs in, not yet out
        self._progress: Any = None
        self._task: Any = None
        self._last_draw = 0.0

    def queued(self, host: str) -> None:
        self.waiting[host] += 1

    def finished(self, record: dict[str, Any], host: str | None, source: str = FETCHED
                 ) -> None:
        self.pages += 1
        self.sources[source] += 1
        if record.get("error"):
            self.errors[error_kind(record)] += 1
        if host is not None:
            self.waiting[host] -= 1
            if self.waiting[host] <= 0:
                del self.waiting[host]
        now = time.monotonic()
        if now - self._last_draw >= REFRESH_SECONDS and now - self.started >= self.delay:
            self._draw(now)

    def line(self, now: float) -> str:
        """What the progress line says now."""
        rate = self.sources[FETCHED] / max(now - self.started, 1e-9)
        resumed = f" ({self.sources[JOURNAL]:,} from the journal)" if self.sources[JOURNAL] \
            else ""
        parts = [f"{self.pages:,} pages{resumed}, {rate:,.0f}/s"]
        if self.errors:
            parts.append("errors: " + ", ".join(
                f"{kind} {n}" for kind, n in self.errors.most_common()))
        if self.waiting:
            parts.append("waiting: " + ", ".join(
                f"{host} {n}" for host, n in self.waiting.most_common(HOSTS_SHOWN)))
        return " | ".join(parts)

    def _draw(self, now: float) -> None:
        self._last_draw = now
        if self._progress is None:
            from rich.console import Console  # imported only when a line is drawn
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(SpinnerColumn(), TimeElapsedColumn(),
                                      TextColumn("{task.description}"),
                                      console=Console(stderr=True), auto_refresh=False)
            self._progress.start()
            self._task = self._progress.add_task("")
        self._progress.update(self._task, description=self.line(now))
        self._progress.refresh()

    def close(self) -> None:
        if self._progress is not None:
            self._draw(time.monotonic())
            self._progress.stop()
            self._progress = None
