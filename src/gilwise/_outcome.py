"""What a task ends as: a value or a Failure, and the exceptions a caller may see."""

# No `from __future__ import annotations`: these classes are public as gilwise.X, and their
# annotations must not need this module's namespace to be read (typing.get_type_hints).
import os
import pickle
import traceback
from types import TracebackType
from typing import Any

from gilwise._pickling import dumps


class GilwiseError(Exception):
    """Base class of every error gilwise raises itself."""


class InterpretersUnavailable(GilwiseError, RuntimeError):
    """``mode="interpreters"`` was asked for on a Python without ``concurrent.interpreters``."""


class WorkerDied(GilwiseError):
    """The worker process running a task died (segfault, os._exit, a signal such as SIGKILL)."""


class TaskTimeout(GilwiseError):
    """A task ran past its ``timeout``; its worker was killed (processes) or abandoned (threads)."""


class BlockingCallWarning(RuntimeWarning):
    """The blocking ``gilwise.map`` was called or iterated inside a running event loop, which
    stalls until the batch ends: ``gilwise.amap`` runs it without blocking the loop."""


class WorkerInitError(GilwiseError):
    """The ``initializer`` failed in a new worker, so no worker can run tasks."""


class PayloadError(GilwiseError, pickle.PicklingError):
    """An argument, result or exception could not be pickled or unpickled. It is a
    ``pickle.PicklingError``, which the stdlib's ``ProcessPoolExecutor`` raises for a call
    that cannot be pickled, so code catching that catches this too."""


class JournalError(GilwiseError):
    """The journal cannot be used for this batch: made by another or a changed function, by an
    older gilwise, or not a journal at all."""


class _Value:
    """Fields set once, by ``__init__`` through ``_fill``; equal and hashable by the first
    ``_compared`` of them (all by default), pickled as all of them and rebuilt by
    ``__init__``. What Failure and Outcome share."""

    __slots__: tuple[str, ...] = ()
    _compared: int | None = None

    def _fill(self, *values: Any) -> None:
        for name, value in zip(self.__slots__, values):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a {type(self).__name__} is "
                             "immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), self._values()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        compared = self._compared
        return self._values()[:compared] == other._values()[:compared]  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values()[:self._compared])


class Failure(_Value):
    """Stands in place of an item whose task failed (``on_error="return"``).

    It carries everything needed to understand the failure without the worker: the original
    exception's type name, message and formatted traceback from the worker (``.traceback``,
    left out of the one-line repr). Immutable; equal to another with the same fields but the
    exception object.
    """

    __slots__ = ("index", "item", "exc_type", "message", "traceback", "attempts", "exception")
    _compared = -1  # the exception object aside
    index: int
    item: Any
    exc_type: str
    message: str
    traceback: str
    attempts: int
    exception: BaseException | None

    def __init__(self, index: int, item: Any, exc_type: str, message: str,
                 traceback: str = "", attempts: int = 1,
                 exception: BaseException | None = None) -> None:
        self._fill(index, item, exc_type, message, traceback, attempts, exception)

    def __repr__(self) -> str:
        return (f"Failure(index={self.index!r}, item={self.item!r}, "
                f"exc_type={self.exc_type!r}, message={self.message!r}, "
                f"attempts={self.attempts!r})")

    def __bool__(self) -> bool:  # a Failure is falsy, so `if result:` filters it out
        return False

    def __str__(self) -> str:
        return f"item {self.index} failed: {self.exc_type}: {self.message}"


class TaskError(GilwiseError):
    """Raised by ``on_error="raise"`` for a task whose own exception cannot be raised: it did
    not unpickle here, a journal recorded it, or gilwise made it (the worker died: its
    ``__cause__`` is a WorkerDied; a timeout: a TaskTimeout). ``failure`` says which and why.
    A task's exception that arrived whole is raised as itself instead (see ``raised``)."""

    def __init__(self, failure: Failure) -> None:
        self.failure: Failure = failure
        self.index: int = failure.index
        self.item: Any = failure.item
        self.exc_type: str = failure.exc_type
        self.remote_traceback: str = failure.traceback
        super().__init__(
            f"task for item {failure.index} ({_short(failure.item)}) failed after "
            f"{failure.attempts} attempt(s): {failure.exc_type}: {failure.message}"
        )

    def __str__(self) -> str:
        text = self.args[0]
        if self.remote_traceback:
            text += "\n\nRemote traceback (from the worker):\n" + self.remote_traceback.rstrip()
        return text


#: exceptions gilwise makes for a task, raised wrapped in a TaskError (as their __cause__)
_OWN = (WorkerDied, TaskTimeout, PayloadError)


def raised(failure: Failure) -> BaseException:
    """What ``on_error="raise"`` raises for ``failure``: the task's own exception, as
    ``Executor.map`` does (``except ValueError`` catches it), with the item, its index and
    the worker's traceback in a PEP 678 note; a TaskError where there is none to raise (see
    TaskError) or it is no ``Exception`` (a task's SystemExit must not end the caller)."""
    exc = failure.exception
    if not isinstance(exc, Exception) or type(exc) in _OWN:
        error = TaskError(failure)
        error.__cause__ = exc
        return error
    note = (f"gilwise: raised by the task for item {failure.index} ({_short(failure.item)}), "
            f"attempt {failure.attempts}")
    if exc.__traceback__ is None and failure.traceback:  # from another process
        note += "; remote traceback (from the worker):\n" + failure.traceback.rstrip()
    add_note(exc, note)
    return exc


def add_note(exc: BaseException, note: str) -> None:
    """``exc.add_note(note)`` (3.11+), or its equivalent on 3.10 (``__notes__``)."""
    if hasattr(exc, "add_note"):
        exc.add_note(note)
    else:
        exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]


class ErrorInfo:
    """An exception turned into plain data in the worker, so it always crosses a pipe."""

    __slots__ = ("exc_type", "message", "traceback", "exception", "kind")
    exc_type: str
    message: str
    traceback: str
    exception: BaseException | None
    kind: str  # raised | died | timeout | payload

    def __init__(self, exc_type: str, message: str, traceback: str,
                 exception: BaseException | None = None, kind: str = "raised") -> None:
        self.exc_type, self.message, self.traceback = exc_type, message, traceback
        self.exception, self.kind = exception, kind

    def __repr__(self) -> str:
        return (f"ErrorInfo(exc_type={self.exc_type!r}, message={self.message!r}, "
                f"traceback={self.traceback!r}, exception={self.exception!r}, "
                f"kind={self.kind!r})")

    # The exception travels as a pickle of its own: one that cannot be pickled in the worker,
    # or rebuilt in the parent (an ``__init__`` that takes other arguments than the message,
    # as httpx.HTTPStatusError's), costs only the exception object, never the rest.
    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__}
        state["exception"] = _pickle_exception(state["exception"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        blob = self.exception
        if blob is None:
            return
        try:
            self.exception = pickle.loads(blob)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - a SystemExit from a __reduce__ too
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.exception = None
            self.traceback += (
                f"\n(gilwise: this {self.exc_type} could not be rebuilt here, so only its type "
                f"name, message and traceback are kept: {type(exc).__name__}: {exc})\n"
            )


def _pickle_exception(exc: BaseException | None) -> bytes | None:
    """``exc`` pickled, or None where it cannot be (its name, message and traceback remain).
    Without its traceback object, whatever else is loaded (distributed installs tblib's
    pickling of tracebacks): the traceback travels as text, and the parent's copy says it
    came from elsewhere by having none."""
    if exc is None:
        return None
    tb = exc.__traceback__
    exc.__traceback__ = None
    try:
        return dumps(exc)
    except Exception:
        return None
    finally:
        exc.__traceback__ = tb


def describe(exc: BaseException, kind: str = "raised") -> ErrorInfo:
    """Capture an exception with its traceback as an ErrorInfo."""
    tb = "".join(traceback.format_exception(type(exc), exc, _from_user_code(exc.__traceback__)))
    return ErrorInfo(type(exc).__qualname__, str(exc), tb, exc, kind)


_PACKAGE_DIR = os.path.dirname(__file__) + os.sep


def _from_user_code(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from its first frame outside gilwise (the worker loop that called the
    user's function is noise to them); whole if every frame is gilwise's own."""
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        first = first.tb_next
    return first or tb


def error_class(info: ErrorInfo) -> type[BaseException] | None:
    """The gilwise exception class matching a supervisor-made error, for ``retry_on`` checks."""
    return {"died": WorkerDied, "timeout": TaskTimeout, "payload": PayloadError}.get(info.kind)


def _short(item: Any, limit: int = 60) -> str:
    text = repr(item)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Outcome(_Value):
    """One item's fate, with how it went: ``map(..., outcomes=True)`` yields these.
    Immutable; equal to another with the same fields."""

    __slots__ = ("index", "item", "value", "failure", "attempts", "seconds", "worker")
    index: int
    item: Any
    value: Any
    failure: Failure | None
    attempts: int
    seconds: float
    worker: str

    def __init__(self, index: int, item: Any, value: Any = None, failure: Failure | None = None,
                 attempts: int = 1, seconds: float = 0.0, worker: str = "") -> None:
        self._fill(index, item, value, failure, attempts, seconds, worker)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"Outcome({fields})"

    @property
    def ok(self) -> bool:
        return self.failure is None
