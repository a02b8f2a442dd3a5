"""gilwise as a joblib backend: ``with joblib.parallel_config(backend="gilwise"): ...``.

Importing this module registers it (``register()`` does it again, under another name if
wanted). It runs joblib's batches on a :class:`gilwise.Executor`: ``n_jobs`` workers in the
mode asked for (``auto`` by default: each function decides on its first batch; joblib's
``prefer="threads"`` and ``require="sharedmem"`` mean threads), so a worker that dies fails
only the batch it held (``gilwise.WorkerDied``), retried where ``retries`` is given, where
joblib's own backend raises ``TerminatedWorkerError`` and loses the call.

    import gilwise.joblib  # registers "gilwise"
    with joblib.parallel_config(backend="gilwise", n_jobs=4, retries=1):
        results = joblib.Parallel()(joblib.delayed(work)(x) for x in xs)

Written against joblib's public backend API (``ParallelBackendBase``) of joblib 1.4-1.6.
"""

from __future__ import annotations

from typing import Any

from joblib import register_parallel_backend

from gilwise._joblib_backend import EXECUTOR_OPTIONS, NAME, GilwiseBackend

__all__ = ["EXECUTOR_OPTIONS", "NAME", "register"]


def register(name: str = NAME, **gilwise_options: Any) -> None:
    """Make ``backend=name`` (default "gilwise") a gilwise backend in joblib, with these
    Executor options (``mode``, ``timeout``, ``retries``, ...)."""
    register_parallel_backend(name, lambda **kw: GilwiseBackend(**{**gilwise_options, **kw}))


register()
