"""Native thread pools that do not fight: workers × native threads ≤ usable cores.

NumPy's BLAS (OpenBLAS, MKL, BLIS) and OpenMP start one thread per core in every process that
loads them: eight workers on eight cores run 64 BLAS threads, and an SVD batch runs slower in
parallel than in one thread. As joblib (loky) does, each worker process is limited to
``cores // workers`` native threads: by the environment variables these libraries read when
they load (set before a spawn or forkserver worker imports them), and by ``threadpoolctl`` for
libraries already loaded (inherited through fork, or imported by the function). In threads
mode the limit is process-wide, so threads × native threads ≤ cores for the batch's time.

threadpoolctl is imported only where a numerical library is loaded: a plain run never pays it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from typing import Any

from gilwise._cores import usable_cores

#: what the native thread pools read when they load
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: modules whose loading brings a native thread pool with it (threadpoolctl then has work)
NUMERIC_MODULES = ("numpy", "scipy", "torch", "sklearn", "numexpr", "mkl", "cv2", "polars")


def native_limit(option: int | str | None, workers: int) -> int | None:
    """Native threads per worker: the option as given (an int), None for "keep" (untouched),
    else ``cores // workers``, unless the user set one of :data:`ENV_VARS` themselves (their
    choice: kept, as loky keeps it)."""
    if option == "keep":
        return None
    if isinstance(option, int):
        return option
    if any(var in os.environ for var in ENV_VARS):
        return None
    return max(1, usable_cores() // max(1, workers))


def numeric_loaded() -> bool:
    """Whether a library with a native thread pool is loaded in this process."""
    modules = sys.modules
    return any(name in modules for name in NUMERIC_MODULES)


def set_env(limit: int) -> None:
    """Tell native libraries loaded from now on in this process (and its children)."""
    for var in ENV_VARS:
        os.environ[var] = str(limit)


@contextlib.contextmanager
def env_during(limit: int | None) -> Iterator[None]:
    """The variables set while a spawn worker starts (it imports the main script, and maybe
    NumPy with it, before any code of ours runs there); the parent's own restored after."""
    if limit is None:
        yield
        return
    saved = {var: os.environ.get(var) for var in ENV_VARS}
    set_env(limit)
    try:
        yield
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


class WorkerLimit:
    """In a worker process: the limit, applied to the native pools loaded so far, again
    whenever a new numerical module has been loaded (by a function that imports NumPy)."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._seen = -1  # numerical modules loaded when last applied
        self._modules = -1  # modules loaded when last looked (none since: nothing to do)
        self._inherited = numeric_loaded()  # by fork: their thread pools stopped by it
        if limit is not None:
            set_env(limit)

    def apply(self) -> None:
        if self.limit is None or len(sys.modules) == self._modules:
            return
        self._modules = len(sys.modules)
        loaded = sum(1 for name in NUMERIC_MODULES if name in sys.modules)
        if loaded and loaded != self._seen:
            self._seen = loaded
            _limits(self.limit)
            if self._inherited:
                self._inherited = False
                _stop_restarted_openblas_threads()


class ProcessWide:
    """Threads mode: native threads limited for the whole process while a batch runs, and
    restored after (``release``)."""

    def __init__(self) -> None:
        self._held: Any = None

    def hold(self, limit: int | None, asked: bool = False) -> None:
        """Limit to ``limit`` threads; a default that leaves every core to one worker
        anyway changes nothing (a limit the caller set before then stays), one ``asked``
        for is set."""
        if limit is None or self._held is not None or not numeric_loaded():
            return
        if limit >= usable_cores() and not asked:
            return
        self._held = _limits(limit)

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.restore_original_limits()


#: threadpoolctl's controller of this process's native libraries, with the count of numerical
#: modules loaded when it looked: its import and its scan of the libraries (~10-40 ms) are
#: paid once in a process, and a worker forked from it inherits both (``prepare_fork``)
_controller: tuple[int, Any] | None = None


def _limits(limit: int) -> Any:
    return _controller_now().limit(limits=limit)


def _controller_now() -> Any:
    global _controller
    loaded = sum(1 for name in NUMERIC_MODULES if name in sys.modules)
    if _controller is None or _controller[0] != loaded:
        from threadpoolctl import ThreadpoolController

        _controller = (loaded, ThreadpoolController())
    return _controller[1]


def _stop_restarted_openblas_threads() -> None:
    """After a fork, OpenBLAS (pthreads) restarts its thread pool when told a limit, and each
    new thread spins ~0.1 s of a core waiting for work that a worker which never calls BLAS
    never gives it (measured: a one-shot 200,000-item map 0.047 -> 0.033 s on 2 cores).
    Stopped again, as fork left it, the pool restarts at the first BLAS call that needs its
    threads, within the limit. Best effort: an OpenBLAS without the function is left as is."""
    try:
        for lib in _controller_now().lib_controllers:
            if lib.internal_api == "openblas" and lib.threading_layer == "pthreads":
                stop = getattr(ctypes.CDLL(lib.filepath, mode=os.RTLD_NOLOAD),
                               "blas_thread_shutdown_", None)
                if stop is not None:
                    stop()
    except Exception:  # noqa: BLE001, S110 - only a spinning thread is at stake
        pass


def prepare_fork() -> None:
    """Before forking workers that will limit their native pools: look at the libraries
    here, once, so that each worker applies its limit at once (measured: a one-shot
    200,000-item map 0.121 -> 0.079 s where NumPy was loaded)."""
    if numeric_loaded():
        _controller_now()
