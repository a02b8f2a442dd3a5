"""gilwise: a parallel map that picks threads or processes for you, and survives the rest.

    import gilwise
    for page in gilwise.map(fetch, urls, mode="threads", workers=32):
        ...
"""

from gilwise._api import MapResult, Pool, RunInfo, map
from gilwise._outcome import (
    Failure,
    GilwiseError,
    PayloadError,
    TaskError,
    TaskTimeout,
    WorkerDied,
    WorkerInitError,
)
from gilwise.auto import Decision, explain
from gilwise.backends.interpreters import InterpretersUnavailable

__all__ = [
    "Decision",
    "Failure",
    "GilwiseError",
    "InterpretersUnavailable",
    "MapResult",
    "PayloadError",
    "Pool",
    "RunInfo",
    "TaskError",
    "TaskTimeout",
    "WorkerDied",
    "WorkerInitError",
    "explain",
    "map",
]
__version__ = "0.1.0"
