"""How gilwise pickles what crosses to and from workers (and into the journal)."""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

from gilwise._outcome import PayloadError, describe


def dumps(obj: Any) -> bytes:
    """Pickle fast; fall back to cloudpickle for lambdas, closures and ``__main__`` objects."""
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def encode_result(result: Any) -> bytes:
    """A ChunkResult as bytes. A value that cannot be pickled fails only its own item; an
    exception that cannot be pickled travels as its type name, message and traceback."""
    try:
        return dumps(result)
    except Exception:
        pass
    for pos, value in enumerate(result.values):
        try:
            dumps(value)
        except Exception as exc:
            result.values[pos] = None
            info = describe(PayloadError(f"the result could not be pickled: {exc}"), "payload")
            result.errors[pos] = info
    for info in result.errors.values():
        try:
            dumps(info.exception)
        except Exception:
            info.exception = None
    return dumps(result)
