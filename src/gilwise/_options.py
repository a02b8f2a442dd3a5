"""Every run option in one immutable class, validated once."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, Literal, get_args

from gilwise._keygate import PerKey, per_key_of
from gilwise._memory import parse_size

# the typed signatures' choices: "auto" and every mode of the registry (tests/test_api.py)
Mode = Literal["auto", "threads", "processes", "interpreters", "dask"]
OnError = Literal["raise", "skip", "return"]
StartMethod = Literal["fork", "forkserver", "spawn"]
MODES: tuple[str, ...] = get_args(Mode)  # the CLI's --mode choices too
ON_ERROR: tuple[str, ...] = get_args(OnError)
START_METHODS = (None, *get_args(StartMethod))
#: buffers of this many bytes or more go to worker processes through shared memory (joblib's
#: default threshold too)
SHARE_ABOVE = 1_000_000


# The classes of a run are plain classes, not dataclasses: ``dataclasses`` imports
# ``inspect`` (with ast, dis), about 8 ms of a one-item map's 50 ms cold start.
class Options:
    """How a batch runs. Built by ``gilwise.map``/``Pool``; checked as it is made.

    The one source of the options, their types and defaults: ``map``, ``Pool`` and
    ``Pool.map`` take exactly the parameters of ``Options(...)`` as keyword arguments
    (tests/test_api.py checks). Immutable: ``with_`` makes a changed copy.
    """

    __slots__ = (
        "mode", "workers", "ordered", "chunksize", "on_error", "progress", "initializer",
        "initargs", "timeout", "retries", "retry_on", "backoff", "journal", "key",
        "retry_failed", "max_in_flight", "per_key", "start_method", "outcomes", "stats",
        "scheduler", "client", "max_tasks_per_child", "max_memory_per_child", "native_threads",
        "share_above", "concurrency", "rate",
    )
    mode: Mode
    workers: int | None
    ordered: bool
    chunksize: int | Literal["auto"]
    on_error: OnError
    progress: bool | None
    initializer: Callable[..., Any] | None
    initargs: tuple[Any, ...]
    timeout: float | None
    retries: int
    retry_on: type[BaseException] | tuple[type[BaseException], ...]
    backoff: float
    journal: str | os.PathLike[str] | None
    key: Callable[[Any], Any] | None
    retry_failed: bool
    max_in_flight: int | None
    per_key: tuple[Callable[[Any], Any], int] | PerKey | None
    start_method: StartMethod | None
    outcomes: bool
    stats: bool
    scheduler: str | None
    client: Any
    max_tasks_per_child: int | None
    max_memory_per_child: int | str | None
    native_threads: int | Literal["keep"] | None
    share_above: int | None
    concurrency: int | None
    rate: float | str | None

    def __init__(
        self,
        mode: Mode = "auto",
        workers: int | None = None,
        ordered: bool = True,
        chunksize: int | Literal["auto"] = "auto",
        on_error: OnError = "raise",
        progress: bool | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: tuple[Any, ...] = (),
        timeout: float | None = None,
        retries: int = 0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (BaseException,),
        backoff: float = 0.1,
        journal: str | os.PathLike[str] | None = None,
        key: Callable[[Any], Any] | None = None,
        retry_failed: bool = False,
        max_in_flight: int | None = None,
        per_key: tuple[Callable[[Any], Any], int] | PerKey | None = None,
        start_method: StartMethod | None = None,
        outcomes: bool = False,
        stats: bool = False,
        scheduler: str | None = None,
        client: Any = None,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | str | None = None,
        native_threads: int | Literal["keep"] | None = None,
        share_above: int | None = SHARE_ABOVE,
        concurrency: int | None = None,
        rate: float | str | None = None,
    ) -> None:
        given = locals()
        for name in self.__slots__:
            object.__setattr__(self, name, given[name])
        self._check()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to option {name!r}: Options are immutable "
                             f"(options.with_({name}=...) makes a changed copy)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete option {name!r}: Options are immutable")

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Options({fields})"

    def _check(self) -> None:
        """Every option's type and value, before any work: one line naming the option and
        what is wrong (TypeError for a wrong type, ValueError for a wrong value)."""
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not one of {', '.join(MODES)}")
        _need_count("workers", self.workers)
        if self.chunksize != "auto" and not _is_int(self.chunksize):
            raise TypeError(f"chunksize={self.chunksize!r} must be 'auto' or a positive "
                            f"integer, not {type(self.chunksize).__name__}")
        if self.chunksize != "auto" and self.chunksize < 1:
            raise ValueError(f"chunksize={self.chunksize!r} must be 'auto' or a positive integer")
        if not isinstance(self.on_error, str) or self.on_error not in ON_ERROR:
            raise ValueError(f"on_error={self.on_error!r} is not one of {', '.join(ON_ERROR)}")
        for name in ("ordered", "retry_failed", "outcomes", "stats"):
            _need_bool(name, getattr(self, name))
        if self.progress is not None:
            _need_bool("progress", self.progress, " or None")
        if self.initializer is not None and not callable(self.initializer):
            raise TypeError(f"initializer={self.initializer!r} is not callable")
        if isinstance(self.initargs, (str, bytes)) or not hasattr(self.initargs, "__iter__"):
            raise TypeError(f"initargs={self.initargs!r} must be a tuple of arguments, not "
                            f"{type(self.initargs).__name__}")
        object.__setattr__(self, "initargs", tuple(self.initargs))
        if self.timeout is not None:
            _need_number("timeout", self.timeout, "a positive number of seconds or None")
            if not (0 < self.timeout < math.inf):
                raise ValueError(f"timeout={self.timeout!r} must be a positive number of "
                                 "seconds")
        if not _is_int(self.retries):
            raise TypeError(f"retries={self.retries!r} must be a non-negative integer, not "
                            f"{type(self.retries).__name__}")
        if self.retries < 0:
            raise ValueError(f"retries={self.retries!r} must be a non-negative integer")
        if isinstance(self.retry_on, type):
            object.__setattr__(self, "retry_on", (self.retry_on,))
        if not isinstance(self.retry_on, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on
        ):
            raise TypeError(f"retry_on={self.retry_on!r} must be an exception class or a tuple "
                            "of them (ValueError, not ValueError())")
        _need_number("backoff", self.backoff, "a number of seconds >= 0")
        if not (0 <= self.backoff < math.inf):
            raise ValueError(f"backoff={self.backoff!r} must be a number of seconds >= 0")
        if self.journal is not None and not isinstance(self.journal, (str, os.PathLike)):
            raise TypeError(f"journal={self.journal!r} must be a file path or None, not "
                            f"{type(self.journal).__name__}")
        _need_count("max_in_flight", self.max_in_flight)
        if self.per_key is not None:
            self._check_per_key()
        if self.start_method not in START_METHODS:
            raise ValueError(
                f"start_method={self.start_method!r} is not one of {', '.join(START_METHODS[1:])} "
                "or None"
            )
        if self.native_threads != "keep":
            _need_count("native_threads", self.native_threads, "a positive integer, 'keep'")
        _need_count("share_above", self.share_above, "a positive number of bytes")
        if self.key is not None and not callable(self.key):
            raise TypeError(f"key={self.key!r} is not callable")
        _need_count("max_tasks_per_child", self.max_tasks_per_child)
        _need_count("concurrency", self.concurrency)
        if self.rate is not None:
            parse_rate(self.rate)  # raises, naming the option
        if self.max_memory_per_child is not None:  # kept in bytes: "500MB" -> 500000000
            object.__setattr__(self, "max_memory_per_child",
                               parse_size(self.max_memory_per_child, "max_memory_per_child"))

    def _check_per_key(self) -> None:
        per_key_of(self.per_key)  # raises, naming what is wrong

    def with_(self, **changes: Any) -> Options:
        """A copy with some options changed (validated again)."""
        return Options(**{name: getattr(self, name) for name in self.__slots__} | changes)


_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
        "hour": 3600.0}


def parse_rate(rate: float | str) -> float:
    """Task starts per second of a ``rate=`` option: a number, or "600/min" ("/s", "/min",
    "/h")."""
    what = 'a positive number of task starts per second, or a string like "600/min"'
    if isinstance(rate, str):
        count, _, unit = rate.replace(" ", "").partition("/")
        try:
            per_second = float(count) / _PER[unit or "s"]
        except (ValueError, KeyError):
            raise ValueError(f"rate={rate!r} must be {what} (units: /s, /min, /h)") from None
    else:
        _need_number("rate", rate, what + " or None")
        per_second = float(rate)
    if not (0 < per_second < math.inf):
        raise ValueError(f"rate={rate!r} must be {what}")
    return per_second


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _need_count(name: str, value: Any, what: str = "a positive integer") -> None:
    """``value`` is None or an int of at least 1: a TypeError for another type, a ValueError
    for another int, naming ``name`` and ``what`` it must be."""
    if value is None:
        return
    if not _is_int(value):
        raise TypeError(f"{name}={value!r} must be {what} or None, not {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name}={value!r} must be {what} or None")


def _need_bool(name: str, value: Any, alternative: str = "") -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}={value!r} must be True or False{alternative}, not "
                        f"{type(value).__name__}")


def _need_number(name: str, value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}={value!r} must be {what}, not {type(value).__name__}")
