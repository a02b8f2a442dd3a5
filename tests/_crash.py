"""Items and a task that go wrong at one chosen step of a task's trip, for the crash matrix.

A module of its own, importable by name, so that a worker (a sub-interpreter included)
loads it without dragging pytest in.

The steps: pickling the argument in the parent, unpickling it in the worker, running the
task, pickling the result in the worker, unpickling the result in the parent. The ways: an
exception, an exception that cannot be rebuilt from its pickle, ``os._exit``, a segfault.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

BAD = 17
COUNT = 50
STEPS = ("pickle_arg", "unpickle_arg", "run", "pickle_result", "unpickle_result")
HOWS = ("error", "unrebuildable", "exit", "segfault")
IN_THE_PARENT = ("pickle_arg", "unpickle_result")


class HttpError(Exception):
    """The shape of httpx.HTTPStatusError: ``__init__`` takes other arguments than the
    message, so unpickling (which calls ``HttpError("404: not found")``) fails."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")


def misbehave(how: str) -> None:
    if how == "error":
        raise ValueError("bad item")
    if how == "unrebuildable":
        raise HttpError(404, "not found")
    if how == "exit":
        os._exit(3)
    if how == "segfault":
        import ctypes
        import faulthandler  # here: neither loads in a sub-interpreter

        faulthandler.disable()  # pytest's, inherited by a worker: a dump would only be noise
        ctypes.string_at(0)


class FailsToPickle:
    def __init__(self, how: str) -> None:
        self.how = how

    def __reduce__(self) -> Any:
        misbehave(self.how)


class FailsToUnpickle:
    def __init__(self, how: str) -> None:
        self.how = how

    def __reduce__(self) -> Any:
        return misbehave, (self.how,)


@dataclass(frozen=True)
class Order:
    """An item that tells the task what to do: misbehave, or return a bad result."""

    step: str
    how: str


def task(x: Any) -> Any:
    if isinstance(x, Order):
        if x.step == "run":
            misbehave(x.how)
        return FailsToPickle(x.how) if x.step == "pickle_result" else FailsToUnpickle(x.how)
    return x * 10


def items(step: str, how: str) -> list[Any]:
    """COUNT numbers, with the one at BAD replaced by what goes wrong at ``step``."""
    bad = {"pickle_arg": FailsToPickle, "unpickle_arg": FailsToUnpickle}.get(step)
    culprit = bad(how) if bad else Order(step, how)
    return [culprit if i == BAD else i for i in range(COUNT)]
