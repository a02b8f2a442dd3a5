"""gilwise: a parallel map that picks threads or processes for you, and survives the rest.

    import gilwise
    for page in gilwise.map(fetch, urls, mode="threads", workers=32):
        ...

The layout, from the top (each layer imports only the ones below; ``make lint`` checks):

- ``cli/``: the ``gilwise`` command, a thin shell over the apps and the public API;
- ``encode/``, ``scrape/``, ``lab/``: the apps, users of the public names below only;
- this module, ``_api``, ``_amap`` and ``_executor``: the public names (``map``, ``Pool``,
  ``amap``/``arun`` for event loops, ``Executor``, ...);
- ``_run``: one map call in phases every front end reuses (settle, attach, start, results,
  close), handing auto mode's ``auto.autopilot.Autopilot`` the controls;
- ``auto/``: measuring the work, choosing the mode, steering the batch as it runs;
  ``_engine/``: the one loop every mode shares (iterated, or stepped and woken);
- ``backends/``: one per mode behind one contract (``_base``), listed in ``registry``;
- ``_observers`` (journal, progress, stats) and the shared nouns: ``_options``, ``_chunk``
  (what crosses to a worker), ``_segment``, ``_result``, ``_outcome``, ``_pickling``, ...
"""

from typing import TYPE_CHECKING, Any

from gilwise._api import Pool, map
from gilwise._cores import usable_cores
from gilwise._keygate import PerKey
from gilwise._outcome import (
    BlockingCallWarning,
    Failure,
    GilwiseError,
    InterpretersUnavailable,
    JournalError,
    Outcome,
    PayloadError,
    TaskError,
    TaskTimeout,
    WorkerDied,
    WorkerInitError,
)
from gilwise._result import Decision, MapResult, RunInfo
from gilwise.auto import explain
from gilwise.frontier import Frontier

if TYPE_CHECKING:  # imported on first use: concurrent.futures loads logging, and _amap
    # asyncio (cold start)
    from gilwise._amap import AsyncMapResult, amap, arun
    from gilwise._executor import Executor

_LAZY = {"Executor": "gilwise._executor", "AsyncMapResult": "gilwise._amap",
         "amap": "gilwise._amap", "arun": "gilwise._amap"}

__all__ = [
    "AsyncMapResult",
    "BlockingCallWarning",
    "Decision",
    "Executor",
    "Failure",
    "Frontier",
    "GilwiseError",
    "InterpretersUnavailable",
    "JournalError",
    "MapResult",
    "Outcome",
    "PayloadError",
    "PerKey",
    "Pool",
    "RunInfo",
    "TaskError",
    "TaskTimeout",
    "WorkerDied",
    "WorkerInitError",
    "amap",
    "arun",
    "explain",
    "map",
    "usable_cores",
]
__version__ = "0.1.0"

# Public names say where users find them (gilwise.TaskError, not gilwise._outcome.TaskError):
# in reprs, tracebacks and help(); pickle finds them there too.
for _name in __all__:
    if _name in globals():
        globals()[_name].__module__ = __name__
del _name


def __getattr__(name: str) -> Any:
    """``gilwise.Executor``, ``amap``, ``arun`` and ``AsyncMapResult``, imported on first use."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        value.__module__ = __name__
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
