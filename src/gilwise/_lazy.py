"""A module imported on first use: ``asyncio`` (which loads logging, ssl's friends and more)
stays out of ``import gilwise`` and of every run that maps no coroutine function."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for module ``name`` in ``namespace`` (a module's globals) until an attribute is
    first read: the module is imported then, and takes this stand-in's place there."""

    def __init__(self, name: str, namespace: dict[str, Any], alias: str | None = None) -> None:
        self._name, self._namespace, self._alias = name, namespace, alias or name

    def __getattr__(self, attribute: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        self._namespace[self._alias] = module
        return getattr(module, attribute)
