"""Every mode in one table: how to build its backend and how to size and feed it.

``_options.MODES`` (so the CLI's ``--mode`` choices), :func:`make_backend`, the default worker
count and the engine's chunk-time target all read it: a new mode is one entry here (and its
name in the ``Literal`` of the typed signatures, which tests/test_api.py checks).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gilwise._options import Options
    from gilwise.backends._base import Backend


def _per_core(cores: int) -> int:
    return cores


def _for_io(cores: int) -> int:
    return min(32, cores + 4)  # concurrent.futures' default for I/O work


class ModeSpec:
    """One mode: its backend (``module:Class``, imported on first use) and how it runs."""

    __slots__ = ("name", "backend", "chunk_seconds", "default_workers", "check", "forks",
                 "cluster")
    name: str
    backend: str
    #: seconds of work a chunk should hold: long enough to hide one round trip
    chunk_seconds: float
    #: workers from the usable cores, when ``workers`` is not given
    default_workers: Callable[[int], int]
    #: ``module:function`` raising a GilwiseError when this Python cannot run the mode
    check: str | None
    #: its workers are forked where that is cheapest, which is safe only while this process
    #: runs one thread: auto mode lets its probe thread finish before starting them
    forks: bool
    #: its workers are a cluster's, costly to start per test: the shared ``mode`` fixture of
    #: the tests leaves it out (it has its own tests), and auto never picks it
    cluster: bool

    def __init__(self, name: str, backend: str, chunk_seconds: float,
                 default_workers: Callable[[int], int] = _per_core, check: str | None = None,
                 forks: bool = False, cluster: bool = False) -> None:
        self.name, self.backend, self.chunk_seconds = name, backend, chunk_seconds
        self.default_workers, self.check, self.forks, self.cluster = (
            default_workers, check, forks, cluster)

    def __repr__(self) -> str:
        return f"ModeSpec({self.name!r}, {self.backend!r})"

    def unavailable(self) -> str | None:
        """Why this Python cannot run the mode, or None."""
        if self.check is None:
            return None
        try:
            _load(self.check)()
        except Exception as exc:
            return str(exc)
        return None

    def make(self, options: Options) -> Backend:
        """The mode's backend; raises its check's GilwiseError (e.g. how to install what it
        needs) when this Python cannot run it."""
        if self.check is not None:
            _load(self.check)()
        return _load(self.backend)(options)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


MODE_SPECS: dict[str, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec("threads", "gilwise.backends.threads:ThreadBackend", 0.002, _for_io),
        ModeSpec("processes", "gilwise.backends.processes:ProcessBackend", 0.02, forks=True),
        ModeSpec("interpreters", "gilwise.backends.interpreters:InterpreterBackend", 0.02,
                 check="gilwise.backends.interpreters:check_available"),
        # a Dask task costs ~1.6 ms: chunks of 0.1 s keep that under 2%; longer ones (0.3 s)
        # left a worker idle at the end of 64 x 25 ms (0.99 s against 0.92 s)
        ModeSpec("dask", "gilwise.backends.dask:DaskBackend", 0.1,
                 check="gilwise.backends.dask:check_available", cluster=True),
    )
}


def spec(mode: str) -> ModeSpec:
    """The entry of ``mode`` (already resolved: never "auto")."""
    try:
        return MODE_SPECS[mode]
    except KeyError:
        raise ValueError(f"mode={mode!r} is not available in this version of gilwise") from None
