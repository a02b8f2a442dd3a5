"""Find the user's function from a ``module:function`` (or ``path/to/file.py:function``) spec."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class SpecError(ValueError):
    """The function spec does not lead to a callable: says which part failed."""


def load_callable(spec: str) -> Callable[..., Any]:
    """``"pkg.mod:fn"`` or ``"script.py:fn"`` -> the function, importable by worker processes."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise SpecError(f"{spec!r}: expected MODULE:FUNCTION, e.g. mymodule:work")
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise SpecError(f"{spec!r}: no such file {module_name}")
        sys.path.insert(0, str(path.parent.resolve()))
        module_name = path.stem
    elif os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`: modules beside you are found
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise SpecError(f"{spec!r}: no module named {module_name!r}") from None
        raise SpecError(f"{spec!r}: importing {module_name} failed: {exc}") from None
    except Exception as exc:
        raise SpecError(f"{spec!r}: importing {module_name} failed: {type(exc).__name__}: "
                        f"{exc}") from None
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise SpecError(f"{spec!r}: module {module_name!r} has no function {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise SpecError(f"{spec!r}: {attr!r} is not callable")
    return target
