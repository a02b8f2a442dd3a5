"""What a journal knows an item and a function by: digests that change when they change.

A journalled result may stand in only for the item and the function that produced it, so
the journal stores a digest of each item beside its result and a digest of the function's
code. Both lean to caution: two equal items that pickle differently (a dict built in
another order, a set of strings under another hash seed) count as different and run again,
which costs time but never returns a stale result.
"""

from __future__ import annotations

import functools
import hashlib
import types
from collections.abc import Callable
from typing import Any

from gilwise._pickling import dumps

DIGEST_BYTES = 16
_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def item_digest(item: Any) -> bytes:
    """A digest of the item's pickle (of its repr where it cannot be pickled)."""
    try:
        data = dumps(item)
    except Exception:
        data = repr(item).encode("utf-8", "backslashreplace")
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest()


def function_name(fn: Callable[..., Any]) -> str:
    """``module:qualname`` (``functools.partial(module:qualname)`` for a partial)."""
    if isinstance(fn, functools.partial):
        return f"functools.partial({function_name(fn.func)})"
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def function_digest(fn: Callable[..., Any]) -> str:
    """A digest of what the function does: its bytecode, constants (nested code included),
    names, defaults and closure values, and the same of the functions these hold.

    The same source gives the same digest in every process of the same Python (constant
    sets are sorted, so string hashing does not matter); the globals it reads do not count.
    """
    hasher = hashlib.blake2b(digest_size=DIGEST_BYTES)
    _Feeder(hasher).feed(fn)
    call = next((vars(k)["__call__"] for k in type(fn).__mro__ if "__call__" in vars(k)), None)
    if not isinstance(fn, _CALLABLES) and isinstance(call, types.FunctionType):
        _Feeder(hasher).feed(call)  # an instance with __call__: its class's code counts too
    return hasher.hexdigest()


_CALLABLES = (types.FunctionType, types.MethodType, functools.partial,
              types.BuiltinFunctionType, type)


class _Feeder:
    """Writes a canonical, tagged encoding of an object into a hasher."""

    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher
        self.seen: set[int] = set()  # functions and containers on the way: cycles end here

    def put(self, tag: str, text: str = "") -> None:
        data = f"{tag}:{text}".encode("utf-8", "surrogatepass")
        self.hasher.update(len(data).to_bytes(8, "little") + data)

    def feed(self, obj: Any) -> None:  # noqa: C901 - one branch per kind of object
        if isinstance(obj, _SCALARS):
            self.put(type(obj).__name__, repr(obj))
            return
        if id(obj) in self.seen:
            self.put("again")
            return
        if isinstance(obj, types.CodeType):
            self.seen.add(id(obj))
            self._code(obj)
        elif isinstance(obj, types.FunctionType):
            self.seen.add(id(obj))
            self._function(obj)
        elif isinstance(obj, types.MethodType):
            self.put("method")
            self.feed(obj.__func__)
            self.feed(obj.__self__)
        elif isinstance(obj, functools.partial):
            self.seen.add(id(obj))
            self.put("partial")
            for part in (obj.func, obj.args, obj.keywords):
                self.feed(part)
        elif isinstance(obj, (type, types.ModuleType, types.BuiltinFunctionType)):
            self.put("named", f"{getattr(obj, '__module__', '')}:{obj.__qualname__}"
                     if not isinstance(obj, types.ModuleType) else obj.__name__)
        elif isinstance(obj, (tuple, list)):
            self.seen.add(id(obj))
            self.put(type(obj).__name__, str(len(obj)))
            for part in obj:
                self.feed(part)
        elif isinstance(obj, dict):
            self.seen.add(id(obj))
            self.put("dict", str(len(obj)))
            for key, value in obj.items():
                self.feed(key)
                self.feed(value)
        elif isinstance(obj, (set, frozenset)):
            self.seen.add(id(obj))
            self.put(type(obj).__name__, ",".join(sorted(self._apart(part) for part in obj)))
        else:
            self._opaque(obj)

    def _code(self, code: types.CodeType) -> None:
        self.put("code", f"{code.co_argcount},{code.co_kwonlyargcount},{code.co_flags}")
        self.hasher.update(code.co_code)
        self.feed(code.co_names)
        self.feed(code.co_consts)

    def _function(self, fn: types.FunctionType) -> None:
        self.put("function", fn.__qualname__)
        self.feed(fn.__code__)
        self.feed(fn.__defaults__)
        self.feed(fn.__kwdefaults__)
        for cell in fn.__closure__ or ():
            try:
                self.feed(cell.cell_contents)
            except ValueError:  # a cell not filled yet
                self.put("empty cell")

    def _apart(self, obj: Any) -> str:
        """The digest of ``obj`` alone: how set members are sorted into a stable order."""
        inner = _Feeder(hashlib.blake2b(digest_size=DIGEST_BYTES))
        inner.seen = self.seen
        inner.feed(obj)
        return inner.hasher.hexdigest()

    def _opaque(self, obj: Any) -> None:
        """Any other value: its pickle where it has one, else only its type."""
        kind = f"{type(obj).__module__}:{type(obj).__qualname__}"
        try:
            data = dumps(obj)
        except Exception:
            self.put("unpicklable", kind)
            return
        self.put("pickled", kind)
        self.hasher.update(hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest())
