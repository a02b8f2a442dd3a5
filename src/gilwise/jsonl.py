"""Items in from a text or JSONL file (lazily, line by line), outcomes out as JSONL."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from gilwise._outcome import Outcome


class InputError(ValueError):
    """The input cannot be read: names the file, the line and what is wrong."""


def open_input(path: str) -> IO[str]:
    """Open ``path`` for reading ('-' is stdin), with a clear error if it cannot be."""
    if path == "-":
        return sys.stdin
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such input file")
    if p.is_dir():
        raise InputError(f"{path}: is a folder, not an input file")
    try:
        return p.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from exc


def read_items(stream: IO[str], name: str, as_json: bool) -> Iterator[Any]:
    """One item per non-empty line: the line's text, or its JSON value when ``as_json``."""
    try:
        for lineno, line in enumerate(stream, 1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            if not as_json:
                yield text
                continue
            try:
                yield json.loads(text)
            except json.JSONDecodeError as exc:
                raise InputError(f"{name}: line {lineno}: invalid JSON ({exc.msg})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason})") from None


def is_json_input(path: str) -> bool:
    return path.endswith((".jsonl", ".ndjson", ".json"))


def record(outcome: Outcome) -> str:
    """One line of output: index, item, ok, and value or error (non-JSON values as text)."""
    data: dict[str, Any] = {"index": outcome.index, "item": outcome.item, "ok": outcome.ok}
    if outcome.failure is None:
        data["value"] = outcome.value
    else:
        data["error"] = {
            "type": outcome.failure.exc_type,
            "message": outcome.failure.message,
        }
    data["attempts"] = outcome.attempts
    return json.dumps(data, default=str, ensure_ascii=False)
