"""The conformance run's deliberate differences, as strict xfails (see DIFFERENCES), and
the tests that would hang, skipped (NOT_RUN_TESTS)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        differences = getattr(item.module, "DIFFERENCES", {})
        not_run = getattr(item.module, "NOT_RUN_TESTS", {})
        name = f"{item.cls.__name__}::{item.name}" if item.cls else item.name
        if name in differences:
            item.add_marker(pytest.mark.xfail(reason=differences[name], strict=True))
        if name in not_run:
            item.add_marker(pytest.mark.skip(reason=not_run[name]))


@pytest.fixture(autouse=True)
def no_executor_left_running():
    """Every gilwise Executor a test made is shut down after it: the strict xfails stop at a
    stdlib pool's private attribute before their own shutdown, and their worker threads
    would otherwise outlive the run into the tests after it."""
    yield
    from gilwise import _executor

    for executor in list(_executor._live):
        executor.shutdown(wait=True, cancel_futures=True)
