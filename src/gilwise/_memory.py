"""A worker's own memory, and sizes as people write them ("500MB").

A worker's *private* memory is what recycling measures: the pages it alone holds, not those
it shares with its parent (a forked worker maps all of the parent's memory, copy-on-write)
nor shared libraries. Linux tells it two ways: ``/proc/PID/statm`` (resident minus
file-backed pages: a few microseconds, but it counts a forked child's inherited pages as
its own) and ``/proc/PID/smaps_rollup`` (Private_Clean + Private_Dirty: exact, ~0.1 ms).
:class:`PrivateMemory` reads the cheap one first and the exact one only when the cheap one
is over the line. Elsewhere psutil's USS is used where psutil is installed, else nothing is
measured.
"""

from __future__ import annotations

import os
import re

_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9,
          "GB": 10**9, "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30,
          "TIB": 2**40}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def parse_size(value: object, option: str) -> int:
    """Bytes from an int or a string such as "500MB", "1.5 GB", "800MiB"; a ValueError (or,
    for another type, a TypeError) naming ``option`` for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)) \
            and match.group(2).upper() in _UNITS:
        size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    elif isinstance(value, str):
        raise ValueError(f"{option}={value!r} must be a number of bytes or a size such as "
                         "'500MB' or '2GiB'")
    else:
        raise TypeError(f"{option}={value!r} must be a number of bytes or a size such as "
                        f"'500MB' or '2GiB', not {type(value).__name__}")
    if size < 1:
        raise ValueError(f"{option}={value!r} must be a positive size")
    return size


def size_text(size: float) -> str:
    """``512 MB``: a size for people."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}" if size >= 10 * scale else \
                f"{size / scale:.1f} {unit}"
    return f"{size:.0f} B"


class PrivateMemory:
    """The private memory of process ``pid`` (None: this one), read again on each call."""

    def __init__(self, pid: int | None = None) -> None:
        where = "self" if pid is None else str(pid)
        self._statm = f"/proc/{where}/statm"
        self._rollup = f"/proc/{where}/smaps_rollup"
        self._fd: int | None = None
        self._keep = pid is None  # this process's statm: read again through one descriptor
        self._psutil = None
        if not os.path.exists(self._statm):
            try:
                import psutil

                self._psutil = psutil.Process(pid)
            except Exception:  # no psutil, or no such process: nothing measured
                self._psutil = None

    def measurable(self) -> bool:
        return self._psutil is not None or os.path.exists(self._statm)

    def over(self, line: int) -> int | None:
        """The private bytes if they are over ``line``, else None (cheap when under)."""
        if self._psutil is not None:
            try:
                uss = self._psutil.memory_full_info().uss
            except Exception:
                return None
            return uss if uss > line else None
        rough = self._rough()
        if rough is None or rough <= line:
            return None
        exact = self._exact()
        if exact is None:
            return rough
        return exact if exact > line else None

    def _rough(self) -> int | None:
        """Resident minus file-backed pages, from statm (pread on a kept descriptor)."""
        try:
            if self._fd is None:
                fd = os.open(self._statm, os.O_RDONLY)
                if not self._keep:  # another process's: no descriptor kept open for it
                    try:
                        return _pages(os.read(fd, 256))
                    finally:
                        os.close(fd)
                self._fd = fd
            return _pages(os.pread(self._fd, 256, 0))
        except (OSError, ValueError, IndexError):
            self.close()
            return None

    def _exact(self) -> int | None:
        try:
            with open(self._rollup, "rb") as rollup:
                text = rollup.read()
        except OSError:
            return None
        kb = 0
        for line in text.splitlines():
            if line.startswith((b"Private_Clean:", b"Private_Dirty:")):
                kb += int(line.split()[1])
        return kb * 1024

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def _pages(statm: bytes) -> int:
    fields = statm.split()
    return (int(fields[1]) - int(fields[2])) * PAGE
