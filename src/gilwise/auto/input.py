"""The caller's input as auto's probe reads it: the first items for the probe thread, the rest
for the engine, with the input's length kept and a reading error held back until its turn."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any


class Sized:
    """The items not yet run, keeping ``len`` when the input had one."""

    def __init__(self, it: Iterator[Any], length: int) -> None:
        self._it, self._length = it, length

    def __iter__(self) -> Iterator[Any]:
        return self._it

    def __len__(self) -> int:
        return self._length


class Source:
    """Reads the input for the probe; an error while reading waits for the engine to raise
    it, after everything read before it has run."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._it = iter(items)
        self._error: Exception | None = None

    def __iter__(self) -> Iterator[Any]:
        while self._error is None:
            try:
                item = next(self._it)
            except StopIteration:
                return
            except Exception as exc:
                self._error = exc
                return
            yield item

    def rest(self) -> Iterator[Any]:
        if self._error is not None:
            raise self._error
        yield from self._it
