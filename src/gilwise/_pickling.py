"""How gilwise pickles what crosses to and from workers (and into the journal).

What goes to a worker process travels by reference where it can (fast), and by value when it
comes from ``__main__``: a worker started by forkserver or spawn has no such ``__main__``, and
one started by fork may lack what was defined after it. In the worker, every function sent by
value from ``__main__`` runs in the worker's own ``__main__`` namespace, as under fork, so an
initializer and the task function see the same globals.
"""

from __future__ import annotations

import functools
import io
import pickle
import sys
import types
from collections.abc import Callable
from typing import Any

# cloudpickle (with logging and platform) is imported where it is first needed, not with
# gilwise: a run in threads, or of functions pickle can send by reference, never needs it

PROTOCOL = pickle.HIGHEST_PROTOCOL


def dumps(obj: Any, buffers: list[pickle.PickleBuffer] | None = None, above: int = 0
          ) -> bytes:
    """Pickle fast; fall back to cloudpickle for lambdas, closures and ``__main__`` objects.
    With ``buffers``: the buffers of ``above`` bytes or more (NumPy arrays...) are left out of
    the bytes and put in that list, in order (pickle protocol 5's out-of-band buffers)."""
    keep = _out_of_band(buffers, above)
    try:
        return pickle.dumps(obj, protocol=PROTOCOL, buffer_callback=keep)
    except Exception:
        import cloudpickle

        if buffers is not None:
            buffers.clear()  # those of the failed attempt
        return cloudpickle.dumps(obj, protocol=PROTOCOL, buffer_callback=keep)


def dumps_to_worker(obj: Any, buffers: list[pickle.PickleBuffer] | None = None,
                    above: int = 0) -> bytes:
    """Pickle for a worker process: by reference where that works in any worker, by value for
    what names ``__main__`` (functions, classes, their instances) or cannot go by reference.
    ``buffers`` and ``above``: as for :func:`dumps`."""
    keep = _out_of_band(buffers, above)
    try:
        data = pickle.dumps(obj, protocol=PROTOCOL, buffer_callback=keep)
    except Exception:
        data = None
    if data is not None and b"__main__" not in data:
        return data
    if buffers is not None:
        buffers.clear()  # those of the first attempt
    buffer = io.BytesIO()
    _main_by_value_pickler()(buffer, protocol=PROTOCOL, buffer_callback=keep).dump(obj)
    return buffer.getvalue()


def _out_of_band(buffers: list[pickle.PickleBuffer] | None, above: int
                 ) -> Callable[[pickle.PickleBuffer], bool] | None:
    """pickle's buffer_callback: a buffer of ``above`` bytes or more goes into ``buffers``
    (out of band: a false answer), a smaller one stays in the bytes."""
    if buffers is None:
        return None

    def in_band(buffer: pickle.PickleBuffer) -> bool:
        try:
            size = buffer.raw().nbytes
        except BufferError:  # not contiguous: pickle copies it in band
            return True
        if size < above:
            return True
        buffers.append(buffer)
        return False

    return in_band


def main_namespace() -> dict[str, Any]:
    """The globals that every function sent by value from ``__main__`` shares in this process."""
    return sys.modules["__main__"].__dict__


def name_main_classes() -> None:
    """Give each class of ``__main__`` its cloudpickle identity before a fork, so that the class
    sent by value later is, in the forked worker, the worker's own copy (isinstance holds).
    Where ``__main__`` names no function or class (``python -c``, a map of builtins),
    cloudpickle, with dataclasses and inspect, is left unloaded: a worker loads it itself if
    something (an unnamed lambda) comes by value after all."""
    main = sys.modules.get("__main__")
    defined = [value for value in (list(vars(main).values()) if main is not None else ())
               if isinstance(value, (type, types.FunctionType))
               and value.__module__ == "__main__"]
    if not defined:
        return
    inner = _cloudpickle()  # imported before the fork: each worker has it from the parent
    for value in defined:
        if isinstance(value, type):
            inner._get_or_create_tracker_id(value)


class _MainNamespace:
    """Stands, in a pickle, for the ``__main__`` namespace of the process that loads it."""

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return main_namespace, ()


_MAIN_NAMESPACE = _MainNamespace()


def _cloudpickle() -> Any:
    """cloudpickle's inner module (its private helpers), imported on first use."""
    from cloudpickle import cloudpickle as inner

    return inner


@functools.cache
def _main_by_value_pickler() -> type:
    """The pickler class below, defined on first use (it derives from cloudpickle's)."""
    import cloudpickle

    inner = _cloudpickle()

    class _MainByValuePickler(cloudpickle.Pickler):
        """cloudpickle, except that a ``__main__`` function is rebuilt on the loader's
        ``__main__`` namespace (not on a private copy of the globals it names), and a
        ``__main__`` class is installed there under its name (so results that name it go
        back by reference)."""

        def reducer_override(
            self, obj: Any, _by_value_kinds: Any = (type, types.FunctionType)
        ) -> Any:
            if not isinstance(obj, _by_value_kinds):
                return NotImplemented  # instances: pickle's own way, the class goes by value
            reduced = super().reducer_override(obj)
            if not (isinstance(reduced, tuple) and len(reduced) == 6):
                return reduced
            if reduced[5] is inner._function_setstate and _from_main(obj):
                make, (code, _, name, defaults, closure), state = reduced[:3]
                new_args = (code, _MAIN_NAMESPACE, name, defaults, closure)
                return make, new_args, state, None, None, _set_main_function_state
            if reduced[5] is inner._class_setstate and obj.__module__ == "__main__":
                return (*reduced[:5], _set_main_class_state)
            return reduced

    return _MainByValuePickler


def _from_main(fn: types.FunctionType) -> bool:
    return fn.__globals__.get("__name__") == "__main__"


def _is_definition(name: str, value: Any) -> bool:
    """``def name`` or ``class name`` at the top of ``__main__`` (not data, not an alias)."""
    return (
        isinstance(value, (type, types.FunctionType))
        and getattr(value, "__module__", None) == "__main__"
        and value.__qualname__ == name
    )


def _replaces(name: str, value: Any, namespace: dict[str, Any]) -> bool:
    """Whether a value from the parent's ``__main__`` takes the place of the loader's: the
    parent's definitions are the latest, but data the loader has (set by an initializer, or
    copied at fork) stays."""
    if name not in namespace or _is_definition(name, value):
        return True
    return _is_definition(name, namespace[name])


def _set_main_function_state(fn: types.FunctionType, state: tuple[dict, dict]) -> None:
    """cloudpickle's function state, with the globals it carries merged into the namespace."""
    namespace = fn.__globals__
    carried = state[1]["__globals__"]
    state[1]["__globals__"] = {k: v for k, v in carried.items() if _replaces(k, v, namespace)}
    builtins = namespace.get("__builtins__")
    _cloudpickle()._function_setstate(fn, state)
    if builtins is not None:
        namespace["__builtins__"] = builtins


def _set_main_class_state(cls: type, state: Any) -> None:
    _cloudpickle()._class_setstate(cls, state)
    namespace, name = main_namespace(), cls.__qualname__
    if "." not in name and _replaces(name, cls, namespace):
        namespace[name] = cls
