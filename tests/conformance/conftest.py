"""The conformance run's deliberate differences, as strict xfails (see DIFFERENCES), and
the tests that would hang, skipped (NOT_RUN_TESTS); at the end, the counts per class and
mode."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

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


MODES = ("Threads", "Fork", "Forkserver", "Spawn", "Interpreters")
_CLASS = re.compile(r"::Test(" + "|".join(sorted(MODES, key=len, reverse=True)) + r")(\w+)::")
_OUTCOMES = (("passed", "pass"), ("xfailed", "xfail"), ("skipped", "skip"),
             ("failed", "FAIL"), ("xpassed", "XPASS"), ("error", "ERROR"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """CPython's test classes, each in each mode it ran in: how many tests passed, failed on
    purpose (strict xfails), were skipped: the table BENCHMARKS.md quotes."""
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for outcome, word in _OUTCOMES:
        for report in terminalreporter.stats.get(outcome, []):
            found = _CLASS.search(getattr(report, "nodeid", ""))
            if found is not None and getattr(report, "when", "call") in ("call", "setup"):
                counts[found.group(2), found.group(1)][word] += 1
    if not counts:
        return
    classes = list(dict.fromkeys(name for name, _ in counts))
    lines = ["| class | " + " | ".join(m.lower() for m in MODES) + " |",
             "|---" * (len(MODES) + 1) + "|"]
    for name in classes:
        cells = [", ".join(f"{n} {word}" for _, word in _OUTCOMES
                           if (n := counts[name, mode][word])) for mode in MODES]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    terminalreporter.write_sep("-", "CPython's concurrent.futures tests, per class and mode")
    for line in lines:
        terminalreporter.write_line(line)
