"""The stdlib executors' private attributes on ``gilwise.Executor`` (``_threads``,
``_processes``, ``_executor_manager_thread``, ``_mp_context``): code written against
``ThreadPoolExecutor``/``ProcessPoolExecutor`` reads them (``for p in ex._processes.values():
p.kill()``), and so do CPython's tests; the rename stays a drop-in.

With ``mode="auto"`` (a lane per mode) each is the union over the lanes: every lane's worker
threads and processes, the processes lane's driver first.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
from typing import Any

from gilwise._api import _Backends
from gilwise._options import Options
from gilwise.backends._base import Backend

#: ``ThreadPoolExecutor``'s default thread names are numbered per executor, as here
_unnamed = itertools.count()
#: how long reading ``_threads``/``_processes`` waits for a lane that was just given calls
#: to start its workers (the stdlib's submit starts them before it returns)
STARTING_SECONDS = 5.0


class NamedBackends(_Backends):
    """An executor's backends: worker threads named as ``ThreadPoolExecutor`` names them,
    ``{thread_name_prefix}_{n}``, by default ``ThreadPoolExecutor-{executor}_{n}``."""

    def __init__(self, thread_name_prefix: str) -> None:
        super().__init__()
        self.names = thread_name_prefix or f"ThreadPoolExecutor-{next(_unnamed)}"

    def backend(self, options: Options) -> Backend:
        backend = super().backend(options)
        backend.name_workers(self.names)
        return backend


class StdlibNames:
    """The private attributes of the stdlib's executors, for code written against them:
    read-only views of gilwise's lanes, their backends and workers."""

    _lanes: dict[str, Any]
    _backends: _Backends
    _options: Options
    _mp_given: Any  # ``mp_context=`` as given

    def _started(self) -> list[Backend]:
        """The backends of the lanes, once each lane given calls has started its workers."""
        for lane in list(self._lanes.values()):
            lane.settled_start(STARTING_SECONDS)
        return list(self._backends.started.values())

    @property
    def _threads(self) -> set[threading.Thread]:
        """``ThreadPoolExecutor._threads``: the worker threads started (threads and
        interpreters lanes), for code written against it."""
        return {t for backend in self._started() for t in backend.worker_threads()}

    @property
    def _processes(self) -> dict[int, Any]:
        """``ProcessPoolExecutor._processes``: pid -> ``multiprocessing`` Process of each
        worker process now, for code written against it (``p.kill()`` fails only the call
        that worker ran, with ``gilwise.WorkerDied``)."""
        return {pid: p for backend in self._started()
                for pid, p in backend.worker_processes().items()}

    @property
    def _executor_manager_thread(self) -> threading.Thread | None:
        """``ProcessPoolExecutor._executor_manager_thread``: the thread driving the lane
        (the processes lane's first), None before the first call, for code written against
        it."""
        lanes = self._lanes
        lane = lanes.get("processes") or next(iter(list(lanes.values())), None)
        return None if lane is None else lane.thread

    @property
    def _mp_context(self) -> multiprocessing.context.BaseContext:
        """``ProcessPoolExecutor._mp_context``: the ``mp_context=`` given, else the context
        the processes lane's latest worker started with, else the one gilwise picks now."""
        from gilwise.backends._start import _context

        given = self._mp_given
        if given is not None and not isinstance(given, str):
            return given
        if given is None:
            for backend in list(self._backends.started.values()):
                method = getattr(backend, "start_method", None)
                if backend.name == "processes" and method is not None:
                    return multiprocessing.get_context(method)
        return _context(self._options.start_method)
