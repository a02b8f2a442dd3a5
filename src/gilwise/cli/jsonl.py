"""Items in from a text, JSON lines or JSON file, outcomes out as JSON lines."""

from __future__ import annotations

import base64
import itertools
import json
import math
import sys
from collections.abc import Iterable, Iterator
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


def input_format(path: str) -> str:
    """How ``path`` is read, by its extension: "jsonl" (.jsonl, .ndjson: one JSON value a
    line), "json" (.json: a JSON array, or JSON lines) or "lines" (one string a line)."""
    if path.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "json" if path.endswith(".json") else "lines"


def read_items(stream: IO[str], name: str, form: str) -> Iterator[Any]:
    """The items of ``stream`` read as ``form`` (see :func:`input_format`), lazily where
    the form allows: all but a JSON array are read line by line."""
    try:
        if form == "json":
            yield from _array_or_lines(stream, name)
        else:
            yield from _lines(stream, name, as_json=form == "jsonl")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason})") from None


def _lines(lines: Iterable[str], name: str, as_json: bool) -> Iterator[Any]:
    """One item per non-empty line: the line's text, or its JSON value when ``as_json``."""
    for lineno, line in enumerate(lines, 1):
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


def _array_or_lines(stream: IO[str], name: str) -> Iterator[Any]:
    """A .json file: the elements of the JSON array it holds (read whole); a file that does
    not start with ``[``, or holds several values, is read as JSON lines."""
    head: list[str] = []  # the lines up to the first that is not blank
    for line in stream:
        head.append(line)
        if line.strip():
            break
    if not head or not head[-1].lstrip().startswith("["):
        yield from _lines(itertools.chain(head, stream), name, as_json=True)
        return
    text = "".join(head) + stream.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise InputError(
                f"{name}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"
            ) from None
        yield from _lines(text.split("\n"), name, as_json=True)  # an array a line, or more
        return
    yield from document


def record(outcome: Outcome) -> str:
    """One line of output: index, item, ok, and value or error, always valid JSON (RFC 8259):
    NaN and infinities as the strings "NaN", "Infinity", "-Infinity", bytes as
    ``{"$bytes": "<base64>"}``, any other value JSON has no form for as its ``str()``."""
    data: dict[str, Any] = {"index": outcome.index, "item": outcome.item, "ok": outcome.ok}
    if outcome.failure is None:
        data["value"] = outcome.value
    else:
        data["error"] = {
            "type": outcome.failure.exc_type,
            "message": outcome.failure.message,
        }
    data["attempts"] = outcome.attempts
    try:  # the common case in one call; the walk below only for what json refuses
        return json.dumps(data, default=_plain, ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):  # a NaN or an infinity, a key JSON cannot name, a cycle
        return json.dumps(_strict(data, set()), default=_plain, ensure_ascii=False,
                          allow_nan=False)


def _plain(value: Any) -> Any:
    """What json.dumps writes for a value it has no form for: bytes as base64, else text."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    return str(value)


def _strict(value: Any, above: set[int]) -> Any:
    """``value`` with each non-finite float named, each dict key a string and each cycle cut
    (as its ``str()``), so that json.dumps(allow_nan=False) takes it."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _non_finite(value)
    if not isinstance(value, (dict, list, tuple)):
        return value
    if id(value) in above:
        return str(value)
    above.add(id(value))
    try:
        if isinstance(value, dict):
            return {_key(k): _strict(v, above) for k, v in value.items()}
        return [_strict(v, above) for v in value]
    finally:
        above.discard(id(value))


def _key(key: Any) -> Any:
    if isinstance(key, float) and not math.isfinite(key):
        return _non_finite(key)
    return key if key is None or isinstance(key, (str, int, float, bool)) else str(key)


def _non_finite(x: float) -> str:
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
