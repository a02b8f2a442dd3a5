"""Every public option of gilwise.map, Pool and Pool.map is checked before any work: a bad
type or value raises TypeError or ValueError at once, in one line naming the option."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import gilwise
from gilwise._options import Options

CALLS: list[list[Any]] = []


def record(x: Any) -> Any:
    CALLS.append(x)
    return x


def noop(*args: Any) -> None:
    pass


# (option, a bad value, the exception): one bad type and one bad value where both exist
BAD = [
    ("mode", "gpu", ValueError), ("mode", 3, ValueError),
    ("workers", 0, ValueError), ("workers", "4", TypeError), ("workers", 2.5, TypeError),
    ("workers", True, TypeError),
    ("ordered", "yes", TypeError), ("ordered", None, TypeError),
    ("chunksize", -1, ValueError), ("chunksize", "big", TypeError), ("chunksize", 1.5, TypeError),
    ("on_error", "ignore", ValueError), ("on_error", None, ValueError),
    ("progress", "yes", TypeError), ("progress", 1, TypeError),
    ("initializer", "setup", TypeError),
    ("initargs", 5, TypeError), ("initargs", "ab", TypeError),
    ("timeout", "5", TypeError), ("timeout", 0, ValueError), ("timeout", -1.0, ValueError),
    ("timeout", float("nan"), ValueError), ("timeout", True, TypeError),
    ("retries", -1, ValueError), ("retries", "2", TypeError), ("retries", 1.0, TypeError),
    ("retry_on", ValueError(), TypeError), ("retry_on", "ValueError", TypeError),
    ("retry_on", [ValueError], TypeError), ("retry_on", (ValueError, int), TypeError),
    ("backoff", -0.1, ValueError), ("backoff", "fast", TypeError),
    ("backoff", float("inf"), ValueError),
    ("journal", 42, TypeError),
    ("key", "id", TypeError),
    ("retry_failed", "no", TypeError),
    ("max_in_flight", 0, ValueError), ("max_in_flight", "10", TypeError),
    ("per_key", 3, TypeError), ("per_key", (len, 0), ValueError),
    ("start_method", "vfork", ValueError),
    ("outcomes", "yes", TypeError),
    ("stats", 1, TypeError),
    ("scheduler", 8786, TypeError),
    ("client", object(), ValueError),  # client= is for mode="dask" only
    ("max_tasks_per_child", 0, ValueError), ("max_tasks_per_child", "5", TypeError),
    ("max_memory_per_child", "lots", ValueError), ("max_memory_per_child", 2.5, TypeError),
    ("native_threads", 0, ValueError), ("native_threads", "all", TypeError),
    ("share_above", 0, ValueError), ("share_above", "1MB", TypeError),
    ("concurrency", 0, ValueError), ("concurrency", "100", TypeError),
    ("rate", 0, ValueError), ("rate", "10/week", ValueError), ("rate", "fast", ValueError),
    ("rate", [10], TypeError), ("rate", float("inf"), ValueError),
]
OPTIONS = [p.name for p in inspect.signature(Options).parameters.values()]


def test_the_table_covers_every_option():
    assert {name for name, _, _ in BAD} == set(OPTIONS)


def _check(call: Any, name: str, value: Any, error: type[Exception]) -> None:
    CALLS.clear()
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith((f"{name}=", f"{name}'s "))  # per_key's limit ...
    assert CALLS == []  # nothing ran


@pytest.mark.parametrize("name, value, error", BAD, ids=lambda v: repr(v)[:20])
def test_map_names_a_bad_option(name, value, error):
    options = {"mode": "threads", name: value}
    _check(lambda: gilwise.map(record, range(3), **options), name, value, error)


@pytest.mark.parametrize("name, value, error", BAD, ids=lambda v: repr(v)[:20])
def test_pool_and_pool_map_name_a_bad_option(name, value, error):
    _check(lambda: gilwise.Pool(**{"mode": "threads", name: value}), name, value, error)
    with gilwise.Pool(mode="threads", workers=1) as pool:
        _check(lambda: pool.map(record, range(3), **{name: value}), name, value, error)


@pytest.mark.parametrize("options", [
    {"timeout": 5}, {"timeout": 0.5}, {"retry_on": ValueError},
    {"retry_on": (ValueError, OSError)}, {"initargs": [1]}, {"progress": None},
    {"backoff": 0}, {"chunksize": "auto"}, {"max_in_flight": 8},
])
def test_valid_values_still_pass(options):
    assert list(gilwise.map(abs, [-1, 2], mode="threads", workers=1,
                            initializer=None if "initargs" not in options else noop,
                            **options)) == [1, 2]
