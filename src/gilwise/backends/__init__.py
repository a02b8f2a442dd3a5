"""Backends: one per mode, all behind the contract in ``_base``, listed in ``registry``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gilwise.backends.registry import spec

if TYPE_CHECKING:
    from gilwise._options import Options
    from gilwise.backends._base import Backend


def make_backend(options: Options) -> Backend:
    """The backend for ``options.mode`` (already resolved: never "auto")."""
    return spec(options.mode).make(options)
