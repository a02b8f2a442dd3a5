"""Task functions for the NumPy tests, importable by name in every worker process (a test
module would drag pytest into each spawn worker)."""

from __future__ import annotations

import os
from typing import Any


def native_threads(_: Any) -> dict[str, int]:
    """The native thread pools of this process, as threadpoolctl reads them: {api: threads}."""
    import numpy  # noqa: F401 - loads OpenBLAS, as a numerical task would
    from threadpoolctl import threadpool_info

    return {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}


def pid(_: Any) -> int:
    return os.getpid()


def column_sum(array: Any, column: int) -> float:
    """A task that reads the whole array (every page, in every worker)."""
    return float(array.sum() + array[:, column].sum())


def write_into(array: Any, _: Any) -> None:
    array[0, 0] = 1.0


def big_result(seed: int) -> Any:
    import numpy as np

    return np.full((5_000_000,), float(seed))  # 40 MB


def svd(matrix: Any) -> Any:
    import numpy as np

    return np.linalg.svd(matrix)[1]


def fail_on(array: Any, item: int) -> float:
    if item == 5:
        raise ValueError("item five")
    return float(array[0, 0]) + item


def hold_while(path: str, item: Any) -> int:
    """Wait while the file ``path`` exists (the test then interrupts or kills the parent)."""
    import time

    deadline = time.monotonic() + 60
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    return item


TABLE: Any = None


def keep_table(table: Any) -> None:
    """An initializer: the worker keeps the table it was given."""
    global TABLE
    TABLE = table


def table_row_sum(row: int) -> float:
    return float(TABLE[row].sum()) + float(TABLE.flags.writeable)


def total(array: Any) -> float:
    return float(array.sum())


def threads_unknown_to_python(_: Any) -> int:
    """How many of this process's threads Python did not start (a native pool's, say)."""
    import threading

    return len(os.listdir("/proc/self/task")) - threading.active_count()
