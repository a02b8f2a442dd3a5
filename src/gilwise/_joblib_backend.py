"""The joblib backend class behind ``gilwise.joblib`` (joblib ships no types: apart, so that
gilwise's public names stay fully typed)."""


from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any

from joblib._parallel_backends import (
    AutoBatchingMixin,
    FallbackToBackend,
    ParallelBackendBase,
    SequentialBackend,
)

import gilwise

NAME = "gilwise"
#: the Executor's own options, besides max_workers (n_jobs) and mode
EXECUTOR_OPTIONS = frozenset({"mp_context", "initializer", "initargs", "max_tasks_per_child",
                              "max_memory_per_child",
                              "thread_name_prefix", "timeout", "retries", "retry_on",
                              "backoff"})


class GilwiseBackend(AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
    """joblib's batches on a :class:`gilwise.Executor`; ``gilwise_options`` (``mode``,
    ``timeout``, ``retries``, ...) are the Executor's."""

    supports_retrieve_callback = True
    supports_timeout = True
    supports_return_generator = True

    def __init__(self, nesting_level: int | None = None,
                 inner_max_num_threads: int | None = None, **gilwise_options: Any) -> None:
        super().__init__(nesting_level=nesting_level,
                         inner_max_num_threads=inner_max_num_threads)
        unknown = set(gilwise_options) - EXECUTOR_OPTIONS - {"mode"}
        if unknown:
            raise TypeError(f"the gilwise joblib backend takes no option "
                            f"{', '.join(sorted(unknown))}: its options are mode and "
                            f"{', '.join(sorted(EXECUTOR_OPTIONS))}")
        self.gilwise_options = gilwise_options
        self.mode: str = gilwise_options.pop("mode", "auto")
        self.executor: gilwise.Executor | None = None
        self.parallel: Any = None

    @property
    def uses_threads(self) -> bool:  # type: ignore[override]
        return self.mode == "threads"

    @property
    def supports_sharedmem(self) -> bool:  # type: ignore[override]
        return self.mode == "threads"

    def effective_n_jobs(self, n_jobs: int | None) -> int:
        if n_jobs == 0:
            raise ValueError("n_jobs == 0 in Parallel has no meaning")
        if n_jobs is None:
            return 1
        if n_jobs < 0:
            return max(gilwise.usable_cores() + 1 + n_jobs, 1)
        return n_jobs

    def configure(self, n_jobs: int | None = 1, parallel: Any = None, prefer: str | None = None,
                  require: str | None = None, **gilwise_options: Any) -> int:
        """Start the executor for a Parallel call; the number of workers."""
        n_jobs = self.effective_n_jobs(n_jobs)
        if n_jobs == 1:
            raise FallbackToBackend(SequentialBackend(nesting_level=self.nesting_level))
        mode = self.mode
        if require == "sharedmem" or (prefer == "threads" and mode == "auto"):
            mode = "threads"
        elif prefer == "processes" and mode == "auto":
            mode = "processes"
        self.mode = mode
        # joblib passes its own memmapping settings (max_nbytes, mmap_mode, temp_folder...)
        # to every backend: only the Executor's options are gilwise's
        options = {name: value for name, value in {**self.gilwise_options,
                                                    **gilwise_options}.items()
                   if name in EXECUTOR_OPTIONS}
        self.executor = gilwise.Executor(n_jobs, mode=mode, **options)  # type: ignore[arg-type]
        self.parallel = parallel
        return n_jobs

    def submit(self, func: Callable[[], Any],
               callback: Callable[[Any], None] | None = None) -> cf.Future[Any]:
        assert self.executor is not None, "configure() first"
        future = self.executor.submit(func)
        if callback is not None:
            future.add_done_callback(callback)
        return future

    def retrieve_result_callback(self, out: cf.Future[Any]) -> Any:
        return out.result()

    def terminate(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)
            self.executor = None
        self.reset_batch_stats()

    def abort_everything(self, ensure_ready: bool = True) -> None:
        """A task failed: the rest are cancelled and what runs is stopped (its workers
        killed); with ``ensure_ready``, a fresh executor for the next call."""
        if self.executor is not None:
            self.executor.abort()
            self.executor = None
        if ensure_ready and self.parallel is not None:
            self.configure(n_jobs=self.parallel.n_jobs, parallel=self.parallel)
