"""A task whose module imports a single-phase-init extension (CPython's test module for
exactly that): it loads in the main interpreter, never in an isolated sub-interpreter."""

from __future__ import annotations

import _testsinglephase  # noqa: F401


def double(x: int) -> int:
    return 2 * x
