"""What ``on_error="raise"`` raises: the task's own exception where it arrived whole (so
``except ValueError`` works as with Executor.map), with the item in a PEP 678 note; else a
TaskError whose ``__cause__`` says what gilwise saw (a worker's death, a timeout)."""

from __future__ import annotations

import os
import sys
import time
import traceback

import pytest

import gilwise


def value_error_on_3(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def die_on_3(x: int) -> int:
    if x == 3:
        os._exit(7)
    return x


def hang_on_3(x: int) -> int:
    if x == 3:
        time.sleep(60)
    return x


def exit_on_3(x: int) -> int:
    if x == 3:
        sys.exit(5)
    return x


@pytest.mark.parametrize("mode", ["threads", "processes"])
def test_except_value_error_catches_a_tasks_value_error(mode, no_leftover_workers):
    got = []
    try:
        for value in gilwise.map(value_error_on_3, range(10), mode=mode, workers=2):
            got.append(value)
    except ValueError as exc:
        caught = exc
    assert got == [0, 1, 2]
    assert type(caught) is ValueError and str(caught) == "bad item 3"
    note = caught.__notes__[-1]
    assert note.startswith("gilwise: raised by the task for item 3 (3), attempt 1")
    assert "value_error_on_3" in "".join(traceback.format_exception(caught))
    if mode == "processes":  # the worker's traceback travels in the note
        assert "remote traceback (from the worker)" in note and "bad item" in note


def test_the_last_attempts_exception_is_raised_after_retries():
    with pytest.raises(ValueError) as caught:
        list(gilwise.map(value_error_on_3, range(5), mode="threads", workers=2, retries=2,
                         backoff=0))
    assert "attempt 3" in caught.value.__notes__[-1]


def test_a_worker_death_is_a_task_error_caused_by_worker_died(no_leftover_workers):
    with pytest.raises(gilwise.TaskError) as caught:
        list(gilwise.map(die_on_3, range(6), mode="processes", workers=2))
    assert isinstance(caught.value.__cause__, gilwise.WorkerDied)
    assert caught.value.index == 3 and caught.value.exc_type == "WorkerDied"


def test_a_timeout_is_a_task_error_caused_by_task_timeout(no_leftover_workers):
    with pytest.raises(gilwise.TaskError) as caught:
        list(gilwise.map(hang_on_3, range(6), mode="processes", workers=2, timeout=1))
    assert isinstance(caught.value.__cause__, gilwise.TaskTimeout)
    assert caught.value.index == 3


def test_a_tasks_system_exit_does_not_end_the_caller():
    with pytest.raises(gilwise.TaskError) as caught:
        list(gilwise.map(exit_on_3, range(6), mode="threads", workers=2))
    assert caught.value.exc_type == "SystemExit"
