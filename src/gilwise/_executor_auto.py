"""``Executor(mode="auto")``: each function's first call runs alone on threads, timed; the
mode of its calls is decided from it, and the calls that waited meanwhile go there.

A mixin of :class:`gilwise.Executor`, apart so that the executor's module keeps to its
contract (submit, map, shutdown) and this one to the choice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from gilwise._cores import usable_cores
from gilwise._lane import _Call, _Lane, _Measured
from gilwise._options import Options
from gilwise._result import Decision
from gilwise.auto import gil_enabled

#: the share of its wall time a first call must compute (not wait) for auto mode to send its
#: function to processes: below it, the function waits on something and threads cover it
CPU_BOUND_SHARE = 0.5
#: a first call shorter than this stays in threads: a process's round trip (~0.1-0.2 ms
#: here) and the pickling would cost more than the parallelism gives back
SHORTEST_FOR_PROCESSES = 0.001
#: executors whose functions' first calls run: kept alive until their held calls are sent
#: (an executor dropped meanwhile would otherwise take them with it)
_deciding: set[Any] = set()


def run_batch(fn: Callable[..., Any], batch: list[tuple[Any, ...]]) -> list[Any]:
    """``map(chunksize=)``'s call: ``fn`` over a batch of argument tuples (auto mode keys
    it by ``fn``)."""
    return [fn(*args) for args in batch]


class AutoMode:
    """The choice per function, for an executor in ``mode="auto"``."""

    _options: Options
    _lock: threading.RLock
    _broken: str | None
    _decisions: dict[Any, Decision]  # per function
    _held: dict[Any, list[_Call]]  # per function whose first call runs: the calls waiting
    _lane: Callable[[str], _Lane]

    def explain(self) -> dict[str, Decision]:
        """Per function, the mode its calls run in and why (``mode="auto"``: decided from
        each function's first call)."""
        with self._lock:
            out = {_name(key): d for key, d in self._decisions.items()}
        if self._options.mode != "auto":
            reason = f"mode={self._options.mode!r} was asked for"
            workers = self._options.workers or 0
            return {"*": Decision(self._options.mode, workers, reason)} | out
        return out

    def _mode_for(self, call: _Call) -> str | None:
        """The lane for ``call``; None where it waits (auto mode: its function's first call
        runs alone on threads, timed, and the mode of the others is decided from it)."""
        if self._options.mode != "auto":
            return self._options.mode
        key = _key(call)
        decision = self._decisions.get(key)
        if decision is not None:
            return decision.mode
        held = self._held.get(key)
        if held is not None:
            held.append(call)
            return None
        self._held[key] = []
        _deciding.add(self)
        call.measure = True
        return "threads"

    def _measured(self, call: _Call, measured: _Measured | None) -> None:
        """Auto mode: the first call of its function ended (``None``: it failed). Decide,
        and send the calls that waited for it."""
        key = _key(call)
        decision = None if measured is None else self._decide(key, measured)
        with self._lock:
            held = self._held.pop(key, [])
            if decision is not None:
                self._decisions[key] = decision
            elif held:  # its next call is measured in its place
                held[0].measure = True
                self._held[key] = []
            for call in held:
                if self._broken is None and not call.future.cancelled():
                    self._lane(decision.mode if decision else "threads").put(call)
            if not self._held:
                _deciding.discard(self)

    def _decide(self, fn: Callable[..., Any], measured: _Measured) -> Decision:
        share = measured.cpu / measured.wall if measured.wall > 0 else 0.0
        took = f"its first call took {measured.wall * 1000:.1f} ms, {share:.0%} computing"
        cores, workers = usable_cores(), self._options.workers
        if share < CPU_BOUND_SHARE:
            return Decision("threads", workers or min(32, cores + 4),
                            f"{took} (waiting the rest): threads")
        if measured.wall < SHORTEST_FOR_PROCESSES:
            return Decision("threads", workers or cores, f"{took}: too short to pay for a "
                            "process's round trip, threads")
        why_not = _why_not_processes(cores, fn)
        if why_not:
            return Decision("threads", workers or cores, f"{took}, but {why_not}: threads")
        return Decision("processes", workers or cores, f"{took}: CPU-bound, processes")


def _key(call: _Call) -> Any:
    """Calls of one function share auto's choice: a bound method's by its function, a batch
    of ``map(chunksize=)`` by the function mapped."""
    fn = call.args[0] if call.fn is run_batch else call.fn
    return getattr(fn, "__func__", fn)


def _name(key: Any) -> str:
    return getattr(key, "__qualname__", None) or repr(key)


def _why_not_processes(cores: int, fn: Callable[..., Any]) -> str:
    """Why ``fn``'s calls cannot gain from processes ("" where they can)."""
    from gilwise._pickling import dumps_to_worker

    if cores < 2:
        return "one usable core"
    if not gil_enabled():
        return "no GIL here"
    try:
        dumps_to_worker(fn)
    except Exception as exc:  # noqa: BLE001 - anything that stops it travelling
        return f"{_name(fn)} cannot be sent to a process ({type(exc).__name__})"
    return ""
