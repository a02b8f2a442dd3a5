"""The segments a process pool keeps from map to map: one per big buffer of the function's,
while the object that holds it lives and its bytes are unchanged.

A ``Pool`` maps the same function over new items again and again (``partial(model, big)``):
writing the array into a new segment at every map costs a write of all its bytes, and
for a while a second copy in ``/dev/shm``. Kept, the next map checks that the object is the
same (a weak reference) and its bytes too (``memcmp`` against the segment, several times
faster than writing them: an array changed in place between maps is written again, never
sent stale). Only writable buffers whose holder takes weak references (NumPy arrays) are
kept; any other is written at every map, as before.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import weakref
from typing import Any

_libc: Any = None


def _memcmp() -> Any:
    """libc's ``memcmp`` (None where it cannot be loaded)."""
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(None)
            libc.memcmp.restype = ctypes.c_int
            libc.memcmp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
            _libc = libc
        except (OSError, AttributeError):
            _libc = False
    return _libc.memcmp if _libc else None


class _Segment:
    """A kept segment: its path, the parent's own mapping of it, and who holds the buffer."""

    __slots__ = ("path", "mapped", "holder")

    def __init__(self, path: str, mapped: mmap.mmap, holder: weakref.ref[Any]) -> None:
        self.path, self.mapped, self.holder = path, mapped, holder


class KeptSegments:
    """Segments by (address, size) of the buffer they hold."""

    def __init__(self) -> None:
        self._by_buffer: dict[tuple[int, int], _Segment] = {}
        self._gone: list[tuple[int, int]] = []  # buffers whose holder died: dropped next call

    def find(self, raw: memoryview) -> str | None:
        """The segment that holds ``raw``'s very bytes, from the same object; None if none."""
        self._drop_gone()
        key = _key(raw)
        segment = self._by_buffer.get(key) if key is not None else None
        if segment is None or key is None:
            return None
        memcmp = _memcmp()
        if segment.holder() is not raw.obj or memcmp is None:
            return None
        mine = ctypes.c_char.from_buffer(segment.mapped)
        try:
            same = memcmp(ctypes.addressof(mine), key[0], key[1]) == 0
        finally:
            del mine  # the mapping may close once nothing points into it
        return segment.path if same else None

    def keep(self, raw: memoryview, path: str) -> str | None:
        """Keep ``path`` as the segment of ``raw`` (if it can be); returns the path it
        replaces, no longer kept (None if none)."""
        self._drop_gone()
        key = _key(raw)
        if key is None or _memcmp() is None:
            return None
        try:
            holder = weakref.ref(raw.obj, lambda _, key=key: self._gone.append(key))
        except TypeError:
            return None  # its holder takes no weak references (bytes, bytearray)
        fd = os.open(path, os.O_RDWR)
        try:
            mapped = mmap.mmap(fd, key[1])  # shared, writable: memcmp needs its address
        finally:
            os.close(fd)
        old = self._by_buffer.pop(key, None)
        self._by_buffer[key] = _Segment(path, mapped, holder)
        if old is None:
            return None
        _close(old)
        return old.path

    def paths(self) -> set[str]:
        self._drop_gone()
        return {segment.path for segment in self._by_buffer.values()}

    def clear(self) -> None:
        for segment in self._by_buffer.values():
            _close(segment)
        self._by_buffer.clear()

    def _drop_gone(self) -> None:
        while self._gone:
            segment = self._by_buffer.pop(self._gone.pop(), None)
            if segment is not None:
                _close(segment)


def _key(raw: memoryview) -> tuple[int, int] | None:
    """(address, size) of a writable buffer's bytes; None for a read-only one."""
    if raw.readonly or not raw.nbytes:
        return None
    view = ctypes.c_char.from_buffer(raw)
    try:
        return ctypes.addressof(view), raw.nbytes
    finally:
        del view


def _close(segment: _Segment) -> None:
    try:
        segment.mapped.close()
    except BufferError:
        pass  # still pointed into: closed when collected
