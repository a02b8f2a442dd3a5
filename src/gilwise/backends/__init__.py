"""Backends: one per mode, all behind the contract in ``_base``."""

from __future__ import annotations

from gilwise._options import Options
from gilwise.backends._base import Backend


def make_backend(options: Options) -> Backend:
    """The backend for ``options.mode`` (already resolved: never "auto")."""
    if options.mode == "threads":
        from gilwise.backends.threads import ThreadBackend

        return ThreadBackend(options)
    if options.mode == "processes":
        from gilwise.backends.processes import ProcessBackend

        return ProcessBackend(options)
    if options.mode == "interpreters":
        from gilwise.backends.interpreters import InterpreterBackend

        return InterpreterBackend(options)
    raise ValueError(f"mode={options.mode!r} is not available in this version of gilwise")
