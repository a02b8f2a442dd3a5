"""``rate=``: at most N task starts per second across a batch, evenly spaced, in every mode.

The batch's workers (threads, processes, sub-interpreters, a local Dask cluster's) share one
small file holding the time of the last start; a worker takes the next turn under an
exclusive ``flock``: it starts only where ``1/N`` seconds have passed since the last start,
and sleeps (a coroutine awaits) until then otherwise. Starts are thus spaced at least ``1/N``
apart: no initial burst (aiolimiter's), and never more than N in any one-second window.
"""

from __future__ import annotations

import fcntl
import os
import struct
import tempfile
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gilwise._lazy import LazyModule

if TYPE_CHECKING:
    import asyncio
else:  # imported on first use: asyncio loads logging (cold start)
    asyncio = LazyModule("asyncio", globals())

_STAMP = struct.Struct("d")


class RateGate:
    """The turns of one batch: ``per_second`` starts at most, through the file at ``path``
    (made and, once the batch's gate is freed, removed by the process that made it)."""

    __slots__ = ("path", "gap", "__weakref__")
    path: str
    gap: float

    def __init__(self, per_second: float, path: str | None = None) -> None:
        self.gap = 1.0 / per_second
        if path is None:
            fd, path = tempfile.mkstemp(prefix="gilwise-rate-")
            os.write(fd, _STAMP.pack(0.0))
            os.close(fd)
            weakref.finalize(self, _remove, path)
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (RateGate, (1.0 / self.gap, self.path))

    def _try(self) -> float:
        """Take the turn now (0.0), or the seconds until the next one is free."""
        fd = os.open(self.path, os.O_RDWR)  # its own open file: flock excludes other threads
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            (last,) = _STAMP.unpack(os.pread(fd, _STAMP.size, 0))
            now = time.time()
            wait = last + self.gap - now
            if wait <= 0:
                os.pwrite(fd, _STAMP.pack(now), 0)
                return 0.0
            return wait
        finally:
            os.close(fd)  # and the lock with it

    def wait(self) -> None:
        """Block this thread until it may start a task."""
        while (wait := self._try()) > 0:
            time.sleep(wait)

    async def turn(self) -> None:
        """Await this coroutine's turn to start (the loop runs the others meanwhile)."""
        while (wait := self._try()) > 0:
            await asyncio.sleep(wait)


class RateLimited:
    """A plain function whose every call waits for its turn at ``gate`` first."""

    __slots__ = ("fn", "gate")

    def __init__(self, fn: Callable[[Any], Any], gate: RateGate) -> None:
        self.fn, self.gate = fn, gate

    def __reduce__(self) -> tuple[Any, ...]:
        return (RateLimited, (self.fn, self.gate))

    def __call__(self, item: Any) -> Any:
        self.gate.wait()
        return self.fn(item)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
