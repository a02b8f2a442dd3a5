"""Big buffers to and from worker processes through shared memory: written once, mapped.

A NumPy array bound in the function (a ``partial``, a closure, a global sent by value) would
otherwise be pickled into every worker's pipe and copied into every worker. Pickle protocol 5
hands such buffers out of band (``buffer_callback``); each one of ``share_above`` bytes or
more is written once into a file of its own in ``/dev/shm`` (``gilwise-<owner pid>-<n>``),
and the pickle names the files. A worker maps them read-only (``buffers=`` on load): no copy,
and a write fails (:class:`ReadOnlyHint` says why and how to get a copy). Results come back
the same way: the worker writes the segment, the parent maps it copy-on-write (a private,
writable array that costs nothing until written) and removes the file at once.

Plain ``os``/``mmap`` files rather than ``multiprocessing.shared_memory``: its resource
tracker (3.8-3.12) registers a segment in every process that attaches to it, warns of "leaked"
segments and unlinks them when any of those processes exits (cpython#82300); ``track=False``
exists only from 3.13, and gilwise runs on 3.10. The owner's pid in each name lets the next
run remove what a process killed with ``kill -9`` left (:func:`sweep`). A ``/dev/shm`` too small
for a buffer (a container's 64 MB) gives way to the temporary folder, said once.
"""

from __future__ import annotations

import itertools
import mmap
import os
import pickle
import warnings
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gilwise._shm_keep import KeptSegments

SHM = "/dev/shm"
PREFIX = "gilwise-"
#: a blob that names segments starts so (no pickle starts with a zero byte)
MAGIC = b"\x00gilwise-shm\x00"
_LENGTH = 8  # bytes of the header's length, after MAGIC
_names = itertools.count()
_said_fallback = False
#: set in a process that mapped a buffer shared read-only (a worker): its task's write
#: errors are explained (:class:`ReadOnlyHint`)
received = False

Pickler = Callable[[Any, list, int], bytes]  # _pickling.dumps or dumps_to_worker


class Sender:
    """One process's sending side: pickles with big buffers in segments of its own, removed
    by :meth:`release` or :meth:`close` (and at exit, or when it is collected). A worker's
    sender (``owned=False``) leaves its segments to the parent, which takes them."""

    def __init__(self, above: int, owned: bool = True) -> None:
        self.above = above
        self.paths: set[str] = set()
        self.owned = owned
        self._functions: list[list[str]] = []  # the segments of the latest functions
        self._kept: KeptSegments | None = None  # a function's, from map to map (_shm_keep)
        self._chunks: dict[int, list[str]] = {}  # of the chunks out, by chunk id
        self._function_paths: set[str] = set()  # every function segment not yet removed
        if owned:
            weakref.finalize(self, _unlink_all, self.paths, os.getpid())

    def dumps(self, obj: Any, pickler: Pickler, keep: bool = False) -> tuple[bytes, list[str]]:
        """``obj`` as bytes, and the segments they name (none: plain pickle bytes). With
        ``keep`` (a function, mapped again and again by a Pool), a buffer already written
        from the same object, its bytes unchanged, is not written again."""
        buffers: list[pickle.PickleBuffer] = []
        data = pickler(obj, buffers, self.above)
        if not buffers:
            return data, []
        if keep and self._kept is None and self.owned:
            from gilwise._shm_keep import KeptSegments

            self._kept = KeptSegments()
        kept = self._kept if keep else None
        refs: list[tuple[str, int]] = []
        written: set[str] = set()
        try:
            for buffer in buffers:
                raw = buffer.raw()
                path = kept.find(raw) if kept is not None else None
                if path is None:
                    path = _write(raw)
                    written.add(path)
                    if kept is not None:
                        kept.keep(raw, path)
                refs.append((path, raw.nbytes))
        except BaseException:
            _unlink_all(written, os.getpid())
            raise
        paths = [path for path, _ in refs]
        if self.owned:
            self.paths.update(paths)
        header = pickle.dumps(refs, protocol=pickle.HIGHEST_PROTOCOL)
        return MAGIC + len(header).to_bytes(_LENGTH, "little") + header + data, paths

    def for_function(self, paths: list[str]) -> None:
        """The segments of a map's function (registered once per map, again on a move back):
        those of the one before the last are read by no worker any more (unless kept, or
        named by the last two too)."""
        self._functions.append(paths)
        if len(self._functions) > 2:
            self._functions.pop(0)
        self._release_unused()

    def _release_unused(self) -> None:
        """Remove the function segments no function of the last two names, nor kept."""
        if not self._functions:
            return
        named = {path for paths in self._functions for path in paths}
        if self._kept is not None:
            named |= self._kept.paths()
        self.release([path for path in self._function_paths if path not in named])
        self._function_paths = named

    def for_chunk(self, chunk_id: int, paths: list[str]) -> None:
        if paths:
            self._chunks.setdefault(chunk_id, []).extend(paths)

    def chunk_done(self, chunk_id: int) -> None:
        """The worker that ran the chunk has mapped its items' segments: they can go."""
        self.release(self._chunks.pop(chunk_id, ()))

    def release(self, paths: Iterable[str]) -> None:
        """Remove these segments: every worker that needed them has mapped them."""
        for path in paths:
            self.paths.discard(path)
            _unlink(path)

    def close(self) -> None:
        if self._kept is not None:
            self._kept.clear()
        _unlink_all(self.paths, os.getpid())
        self._functions.clear()
        self._function_paths.clear()
        self._chunks.clear()


def loads(blob: bytes, take: bool = False) -> Any:
    """Unpickle what a :class:`Sender` made (or plain pickle bytes). The segments are mapped
    read-only; with ``take`` (results, in the parent) copy-on-write, and removed at once."""
    if not blob.startswith(MAGIC):
        return pickle.loads(blob)
    global received
    start = len(MAGIC) + _LENGTH
    end = start + int.from_bytes(blob[len(MAGIC):start], "little")
    refs: list[tuple[str, int]] = pickle.loads(blob[start:end])
    try:
        views = [_map(path, size, take) for path, size in refs]
        if not take:
            received = True
        return pickle.loads(memoryview(blob)[end:], buffers=views)
    finally:
        if take:
            for path, _ in refs:
                _unlink(path)


def names_segments(blob: bytes) -> bool:
    return blob.startswith(MAGIC)


def _map(path: str, size: int, take: bool) -> memoryview:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"the shared-memory segment {path} is gone: removed before this worker read it "
            "(its map ended, or a process cleaned it up)"
        ) from None
    try:
        mapped = mmap.mmap(fd, size, access=mmap.ACCESS_COPY if take else mmap.ACCESS_READ)
    finally:
        os.close(fd)
    return memoryview(mapped)


def _write(raw: memoryview) -> str:
    """A new segment holding ``raw``'s bytes: its path."""
    folder = _folder(raw.nbytes)
    while True:
        path = os.path.join(folder, f"{PREFIX}{os.getpid()}-{next(_names)}")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            continue  # left by an earlier process of the same pid: take the next name
    try:
        done = 0  # raw: one-dimensional bytes (PickleBuffer.raw)
        while done < len(raw):
            done += os.write(fd, raw[done:done + (1 << 30)])
    except BaseException:
        os.close(fd)
        _unlink(path)
        raise
    os.close(fd)
    return path


def _folder(size: int) -> str:
    """``/dev/shm`` if it has room for ``size`` bytes (and a margin), else the temporary
    folder, said once per process."""
    global _said_fallback
    try:
        stat = os.statvfs(SHM)
        if stat.f_bavail * stat.f_frsize >= size + (16 << 20):
            return SHM
        why = f"{SHM} has {stat.f_bavail * stat.f_frsize / 1e6:.0f} MB free"
    except OSError:
        why = f"there is no {SHM}"
    folder = _tempdir()
    if not _said_fallback:
        _said_fallback = True
        warnings.warn(f"gilwise: {why}, too little for a {size / 1e6:.0f} MB buffer: shared "
                      f"buffers go to {folder} instead (slower where it is on a disk)",
                      RuntimeWarning, stacklevel=4)
    return folder


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _unlink_all(paths: set[str], owner: int) -> None:
    if os.getpid() != owner:  # a forked child's copy of the sender: not its segments
        return
    for path in list(paths):
        _unlink(path)
    paths.clear()


def _tempdir() -> str:
    import tempfile  # (with shutil and random): only where a segment is made or swept

    return tempfile.gettempdir()


def folders() -> list[str]:
    return [SHM, _tempdir()]


def sweep(pid: int | None = None) -> int:
    """Remove segments whose owner is gone: of process ``pid`` (a worker just buried), or of
    every process no longer alive (left by a ``kill -9``). Returns how many."""
    removed = 0
    for folder in folders():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if not name.startswith(PREFIX):
                continue
            owner = _owner(name)
            if owner is None or owner == os.getpid():
                continue
            if (owner == pid) if pid is not None else not _alive(owner):
                _unlink(os.path.join(folder, name))
                removed += 1
    return removed


def _owner(name: str) -> int | None:
    parts = name[len(PREFIX):].split("-")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's: alive
    return True


class SharedReadOnly(ValueError):
    """A task wrote into an array that came through shared memory (read-only there)."""


class ReadOnlyHint:
    """The task function, in a worker that received shared buffers: a write into one fails
    with an error that says why and how to get a private copy."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, item: Any) -> Any:
        try:
            return self.fn(item)
        except ValueError as exc:
            if "read-only" not in str(exc) or isinstance(exc, SharedReadOnly):
                raise
            raise SharedReadOnly(
                f"{exc}: this array came to the worker through gilwise's shared memory, "
                "read-only (one copy for every worker); to write into it, take a private "
                "copy first: np.array(x) or x.copy() (or share_above=None: no sharing)"
            ) from exc
