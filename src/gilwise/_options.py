"""Every run option in one immutable class, validated once."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, get_args

from gilwise._keygate import PerKey, per_key_of

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
        "scheduler", "client", "native_threads", "share_above",
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
    native_threads: int | Literal["keep"] | None
    share_above: int | None

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
        native_threads: int | Literal["keep"] | None = None,
        share_above: int | None = SHARE_ABOVE,
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
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not one of {', '.join(MODES)}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise ValueError(f"workers={self.workers!r} must be a positive integer or None")
        if self.chunksize != "auto" and (
            not isinstance(self.chunksize, int) or self.chunksize < 1
        ):
            raise ValueError(f"chunksize={self.chunksize!r} must be 'auto' or a positive integer")
        if self.on_error not in ON_ERROR:
            raise ValueError(f"on_error={self.on_error!r} is not one of {', '.join(ON_ERROR)}")
        if self.initializer is not None and not callable(self.initializer):
            raise TypeError(f"initializer={self.initializer!r} is not callable")
        object.__setattr__(self, "initargs", tuple(self.initargs))
        if self.timeout is not None and not (self.timeout > 0):
            raise ValueError(f"timeout={self.timeout!r} must be a positive number of seconds")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries={self.retries!r} must be a non-negative integer")
        if isinstance(self.retry_on, type):
            object.__setattr__(self, "retry_on", (self.retry_on,))
        if not all(isinstance(t, type) and issubclass(t, BaseException) for t in self.retry_on):
            raise TypeError(f"retry_on={self.retry_on!r} must be exception classes")
        if self.backoff < 0:
            raise ValueError(f"backoff={self.backoff!r} must be >= 0")
        if self.max_in_flight is not None and self.max_in_flight < 1:
            raise ValueError(f"max_in_flight={self.max_in_flight!r} must be a positive integer")
        if self.per_key is not None:
            self._check_per_key()
        if self.start_method not in START_METHODS:
            raise ValueError(
                f"start_method={self.start_method!r} is not one of {', '.join(START_METHODS[1:])} "
                "or None"
            )
        if self.native_threads is not None and self.native_threads != "keep" and (
            not isinstance(self.native_threads, int) or self.native_threads < 1
        ):
            raise ValueError(f"native_threads={self.native_threads!r} must be a positive "
                             "integer, 'keep' or None")
        if self.share_above is not None and (
            not isinstance(self.share_above, int) or self.share_above < 1
        ):
            raise ValueError(f"share_above={self.share_above!r} must be a positive number of "
                             "bytes or None")
        if self.key is not None and not callable(self.key):
            raise TypeError(f"key={self.key!r} is not callable")

    def _check_per_key(self) -> None:
        per_key_of(self.per_key)  # raises, naming what is wrong

    def with_(self, **changes: Any) -> Options:
        """A copy with some options changed (validated again)."""
        return Options(**{name: getattr(self, name) for name in self.__slots__} | changes)
