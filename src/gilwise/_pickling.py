"""How gilwise pickles what crosses to and from workers (and into the journal)."""

from __future__ import annotations

import pickle
from typing import Any

import cloudpickle

from gilwise._outcome import PayloadError, describe
from gilwise._task import ChunkResult


def dumps(obj: Any) -> bytes:
    """Pickle fast; fall back to cloudpickle for lambdas, closures and ``__main__`` objects."""
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def encode_result(result: ChunkResult) -> bytes:
    """A ChunkResult as bytes. A value that cannot be pickled fails only its own item; an
    exception that cannot be pickled travels as its type name, message and traceback (see
    ErrorInfo's own pickling)."""
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
    return dumps(result)


def decode_result(blob: bytes, chunk_id: int) -> Any:
    """What a worker sent back for chunk ``chunk_id``, unpickled. A value that pickled in the
    worker but cannot be rebuilt here makes the whole chunk undecodable: the engine then runs
    its items one by one, so only the culprit's item fails. One pickle per chunk stays the
    fast path."""
    try:
        return pickle.loads(blob)
    except BaseException as exc:  # noqa: BLE001 - a SystemExit from a __reduce__ too
        if isinstance(exc, KeyboardInterrupt):
            raise
        return undecodable(chunk_id, f"the result could not be unpickled: {_name(exc)}")


def undecodable(chunk_id: int, why: str) -> ChunkResult:
    """A chunk whose items or results could not be unpickled: its error at position -1 tells
    the engine to run the items one by one (a single item fails with ``why``)."""
    info = describe(PayloadError(why), "payload")
    info.exception = None
    return ChunkResult(chunk_id, [], {-1: info}, 0.0)


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
