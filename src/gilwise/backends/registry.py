"""Every mode in one table: how to build its backend and how to size, feed and describe it.

:func:`make_backend`, :func:`worker_count`, :func:`check_options`, ``explain`` and the
engine's chunk-time target all read it: a new mode is one entry here (and its name in the
``Literal`` of the typed signatures, ``_options.Mode``, which tests/test_api.py checks).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gilwise._cores import usable_cores
from gilwise._options import Options
from gilwise._result import Decision

if TYPE_CHECKING:  # the backends import this table's module only by name, when first used
    from gilwise.backends._base import Backend


def _per_core(cores: int) -> int:
    return cores


def _for_io(cores: int) -> int:
    return min(32, cores + 4)  # concurrent.futures' default for I/O work


class ModeSpec:
    """One mode: its backend (``module:Class``, imported on first use) and how it runs."""

    __slots__ = ("name", "backend", "chunk_seconds", "default_workers", "check", "forks",
                 "cluster", "own_options", "check_options", "describe", "recycles")
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
    #: options only this mode takes (refused with another mode), and ``module:function``
    #: checking them further (raising ValueError or TypeError naming the option)
    own_options: tuple[str, ...]
    check_options: str | None
    #: ``module:function(options) -> Decision``: what ``explain`` says of this mode without
    #: running an item (a cluster's workers and threads); None: explain probes as auto does
    describe: str | None
    #: the recycling options its workers honour (max_tasks_per_child, max_memory_per_child)
    recycles: tuple[str, ...]

    def __init__(self, name: str, backend: str, chunk_seconds: float,
                 default_workers: Callable[[int], int] = _per_core, check: str | None = None,
                 forks: bool = False, cluster: bool = False,
                 own_options: tuple[str, ...] = (), check_options: str | None = None,
                 describe: str | None = None, recycles: tuple[str, ...] = ()) -> None:
        self.name, self.backend, self.chunk_seconds = name, backend, chunk_seconds
        self.default_workers, self.check, self.forks, self.cluster = (
            default_workers, check, forks, cluster)
        self.own_options, self.check_options, self.describe = (
            own_options, check_options, describe)
        self.recycles = recycles

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
        if options.workers is None:
            options = options.with_(workers=worker_count(options))
        return _load(self.backend)(options)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


RECYCLING = ("max_tasks_per_child", "max_memory_per_child")

MODE_SPECS: dict[str, ModeSpec] = {
    spec.name: spec
    for spec in (
        ModeSpec("threads", "gilwise.backends.threads:ThreadBackend", 0.002, _for_io),
        ModeSpec("processes", "gilwise.backends.processes:ProcessBackend", 0.02, forks=True,
                 recycles=RECYCLING),
        ModeSpec("interpreters", "gilwise.backends.interpreters:InterpreterBackend", 0.02,
                 check="gilwise.backends.interpreters:check_available",
                 recycles=("max_tasks_per_child",)),
        # a Dask task costs ~1.6 ms: chunks of 0.1 s keep that under 2%; longer ones (0.3 s)
        # left a worker idle at the end of 64 x 25 ms (0.99 s against 0.92 s)
        ModeSpec("dask", "gilwise.backends.dask:DaskBackend", 0.1,
                 check="gilwise.backends.dask:check_available", cluster=True,
                 own_options=("scheduler", "client"),
                 check_options="gilwise.backends.dask:check_options",
                 describe="gilwise.backends.dask:describe_cluster"),
    )
}


def spec(mode: str) -> ModeSpec:
    """The entry of ``mode`` (already resolved: never "auto")."""
    try:
        return MODE_SPECS[mode]
    except KeyError:
        raise ValueError(f"mode={mode!r} is not available in this version of gilwise") from None


def worker_count(options: Options) -> int:
    """Workers to start: as asked, else the mode's default from the usable cores (one per
    core; threads: a wider default)."""
    if options.workers is not None:
        return options.workers
    entry = MODE_SPECS.get(options.mode)
    return entry.default_workers(usable_cores()) if entry else usable_cores()


def check_options(options: Options) -> Options:
    """``options`` as given by a caller, checked against the modes: a mode's own options
    (a Dask ``scheduler=``) by its checks, then refused with another mode. Returns them."""
    for entry in MODE_SPECS.values():
        given = [name for name in entry.own_options if getattr(options, name) is not None]
        if not given:
            continue
        if entry.check_options is not None:
            _load(entry.check_options)(options)
        if options.mode != entry.name:
            raise ValueError(f"{given[0]}= is for mode={entry.name!r}, "
                             f"not mode={options.mode!r}")
    entry = MODE_SPECS.get(options.mode)
    for name in RECYCLING:  # auto: they apply where it runs workers that honour them
        if entry is not None and getattr(options, name) is not None \
                and name not in entry.recycles:
            where = " or ".join(repr(m) for m, e in MODE_SPECS.items() if name in e.recycles)
            raise ValueError(f"{name}= is for mode={where}, not mode={options.mode!r}: its "
                             "workers share one process")
    return options


def describe(options: Options) -> Decision | None:
    """What ``explain`` says of ``options.mode`` without running an item, where the mode
    says it (a cluster); None where explain should probe."""
    entry = MODE_SPECS.get(options.mode)
    if entry is None or entry.describe is None:
        return None
    return _load(entry.describe)(options)
