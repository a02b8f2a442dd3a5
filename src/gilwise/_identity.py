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
import os
import re
import types
from collections.abc import Callable
from typing import Any

from gilwise._pickling import dumps

DIGEST_BYTES = 16
_SCALARS = (type(None), bool, int, float, complex, str, bytes)
# an address in a repr (``<Lock object at 0x7f...>``): another object may have it next run
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")


def item_digest(item: Any) -> bytes:
    """A digest of the item's pickle, or of its repr where it cannot be pickled. An item
    with neither (or whose repr shows an address, not content: the next run's object may
    sit at the same address) gets a random digest: it never matches, and always runs again."""
    try:
        data = dumps(item)
    except Exception:
        if type(item).__repr__ is object.__repr__:
            return os.urandom(DIGEST_BYTES)
        try:
            shown = repr(item)
        except Exception:
            return os.urandom(DIGEST_BYTES)
        if _ADDRESS.search(shown):
            return os.urandom(DIGEST_BYTES)
        data = shown.encode("utf-8", "backslashreplace")
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).digest()


def function_name(fn: Callable[..., Any]) -> str:
    """``module:qualname`` (``functools.partial(module:qualname)`` for a partial)."""
    if isinstance(fn, functools.partial):
        return f"functools.partial({function_name(fn.func)})"
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}:{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def function_digest(fn: Callable[..., Any]) -> str:
    """A digest of what the function does: its bytecode, constants (nested code included),
    names, defaults, closure values (or bound object, or partial's arguments), and the same
    of the functions these hold and of the functions of its own module it calls.

    The same source gives the same digest in every process of the same Python (set members
    are sorted, so string hashing does not matter). Global values other than functions of
    its module do not count: a changed ``FACTOR = 2`` goes unnoticed.
    """
    feeder = _Feeder(hashlib.blake2b(digest_size=DIGEST_BYTES))
    feeder.feed(fn)
    if not isinstance(fn, _PLAIN_CALLABLES):
        # an object with __call__, or a wrapper such as functools.cache: the code it runs
        call = next((vars(k)["__call__"] for k in type(fn).__mro__ if "__call__" in vars(k)),
                    None)
        for code_holder in (call, getattr(fn, "__wrapped__", None)):
            if isinstance(code_holder, types.FunctionType):
                feeder.feed(code_holder)
    return feeder.hasher.hexdigest()


_PLAIN_CALLABLES = (types.FunctionType, types.MethodType, functools.partial,
                    types.BuiltinFunctionType, type)
_WALKED_UP_TO = 1000  # a bigger list, tuple or dict is hashed from its pickle, in C


class _Feeder:
    """Writes a canonical, tagged encoding of an object into a hasher."""

    def __init__(self, hasher: Any, seen: set[int] | None = None) -> None:
        self.hasher = hasher
        # functions and containers already fed: cycles end here
        self.seen: set[int] = set() if seen is None else seen

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
        self.seen.add(id(obj))
        if isinstance(obj, types.CodeType):
            self._code(obj)
        elif isinstance(obj, types.FunctionType):
            self._function(obj)
        elif isinstance(obj, types.MethodType):
            self.put("method")
            self.feed(obj.__func__)
            self.feed(obj.__self__)
        elif isinstance(obj, functools.partial):
            self.put("partial")
            for part in (obj.func, obj.args, obj.keywords):
                self.feed(part)
        elif isinstance(obj, types.ModuleType):
            self.put("module", obj.__name__)
        elif isinstance(obj, (type, types.BuiltinFunctionType)):
            self.put("named", f"{obj.__module__}:{obj.__qualname__}")
        elif isinstance(obj, (set, frozenset)):
            self._set(obj)
        elif isinstance(obj, (tuple, list, dict)) and len(obj) <= _WALKED_UP_TO:
            self.put(type(obj).__name__, str(len(obj)))
            for part in obj.items() if isinstance(obj, dict) else obj:
                self.feed(part)
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
        for name in sorted(_global_names(fn.__code__)):
            helper = fn.__globals__.get(name)
            if isinstance(helper, types.FunctionType) and helper.__module__ == fn.__module__:
                self.put("calls", name)
                self.feed(helper)

    def _set(self, members: set[Any] | frozenset[Any]) -> None:
        """Members in a stable order: sorted by their own encodings, not by hash."""
        if all(type(m) is str for m in members):
            kind, parts = "of str", sorted(members)
        elif all(isinstance(m, _SCALARS) for m in members):
            kind, parts = "of scalars", sorted(f"{type(m).__name__}:{m!r}" for m in members)
        else:
            kind, parts = "of digests", sorted(self._apart(m) for m in members)
        self.put(f"{type(members).__name__} {kind}", "\x00".join(parts))

    def _apart(self, obj: Any) -> str:
        """The digest of ``obj`` alone, independent of what was fed before it."""
        inner = _Feeder(hashlib.blake2b(digest_size=DIGEST_BYTES), set(self.seen))
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


def _global_names(code: types.CodeType) -> set[str]:
    """The names a code object and the code nested in it look up (globals among them)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names
