"""Page records and their output files: one JSON object a line, or CSV, each record
written as it arrives and flushed at least every FLUSH_SECONDS (a flush per record costs
more than the rest of the main thread's work: each write waits to get the GIL back from
the fetching threads), and on close: an interrupted run leaves a valid file."""

from __future__ import annotations

import csv
import json
import pickle
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import IO, Any

HEAD = ("url", "final_url", "status", "content_type", "title", "description", "links")
TAIL = ("bytes", "elapsed", "fetched_at", "attempts", "kind", "error")
FLUSH_SECONDS = 0.25  # the journal commits every 0.5 s: a kill loses no more here
# a record's "kind": a page (HTML, parsed; or not HTML, its content_type kept), or the kind
# of its error, by which the summary and the progress line count them
PAGE_KINDS = ("html", "not-html")
ERROR_KINDS = ("http-4xx", "http-5xx", "timeout", "connection-refused", "connection", "dns",
               "tls", "redirect", "too-large", "robots", "invalid-url", "crash")
KINDS = PAGE_KINDS + ERROR_KINDS


def columns(field_names: Sequence[str] = (), text: bool = False) -> list[str]:
    """Every record's keys, in order: the fixed ones, ``text`` if asked, then the fields."""
    return [*HEAD, *(("text",) if text else ()), *field_names, *TAIL]


def failed(url: str, error: str, names: Sequence[str] = (), text: bool = False, *,
           kind: str) -> dict[str, Any]:
    """The record of a URL that was not fetched (invalid, disallowed, or a bug)."""
    record = dict.fromkeys(columns(names, text))
    record.update(url=url, links=[], bytes=0, elapsed=0.0, attempts=0, kind=kind, error=error)
    return record


class FinishedPages:
    """The records of finished URLs, for duplicates that come later in the input: pickled to
    a temporary file, only each URL's place in it kept in memory (a million pages' records
    with their links would take gigabytes)."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._place: dict[str, tuple[int, int]] = {}  # URL -> (offset, length)
        self._end = 0
        self._unflushed = False

    def __contains__(self, url: str) -> bool:
        return url in self._place

    def add(self, url: str, record: dict[str, Any]) -> None:
        if self._file is None:
            # a big buffer, as the Writer's: each write to the disk waits for the GIL back
            self._file = tempfile.TemporaryFile(prefix="gilwise-scrape-",  # noqa: SIM115
                                                buffering=1 << 20)
        data = pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
        self._file.write(data)
        self._place[url] = (self._end, len(data))
        self._end += len(data)
        self._unflushed = True

    def get(self, url: str) -> dict[str, Any]:
        offset, length = self._place[url]
        assert self._file is not None
        if self._unflushed:
            self._file.flush()
            self._unflushed = False
        self._file.seek(offset)
        data = self._file.read(length)
        self._file.seek(self._end)
        return pickle.loads(data)  # noqa: S301 (written by this object)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Writer:
    """Records to ``path`` ("-": stdout) as JSON lines, or CSV if the path ends in .csv."""

    def __init__(self, path: str, names: Sequence[str] = (), text: bool = False) -> None:
        self.path = path
        self.csv: bool = path.lower().endswith(".csv")
        # a big buffer: few writes, each of which gives up the GIL and waits to get it back
        self.file: IO[str] = sys.stdout if path == "-" else open(  # noqa: SIM115
            path, "w", encoding="utf-8", newline="" if self.csv else None, buffering=1 << 20)
        self.columns: list[str] = columns(names, text)
        self._csv = csv.DictWriter(self.file, self.columns, extrasaction="ignore") \
            if self.csv else None
        if self._csv is not None:
            self._csv.writeheader()
        self.count: int = 0
        self._flushed = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow({k: _cell(record.get(k)) for k in self.columns})
        else:
            self.file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1
        now = time.monotonic()
        if now - self._flushed >= FLUSH_SECONDS:
            self.file.flush()
            self._flushed = now

    def close(self) -> None:
        self.file.flush()
        if self.file is not sys.stdout:
            self.file.close()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join(map(str, value)) if all(isinstance(v, str) for v in value) \
            else json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value
