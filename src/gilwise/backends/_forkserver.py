"""Imported only in multiprocessing's forkserver process, through its preload list.

A gilwise worker forked from there starts with an empty ``__main__`` instead of importing the
user's script again (which would run a script without an ``if __name__ == "__main__":`` guard
once per worker): all it needs from ``__main__`` arrives by value (``_pickling``). Processes
that are not gilwise workers, started from the same server, are prepared as before.
"""

from __future__ import annotations

import builtins
import sys
import types
from multiprocessing import spawn
from typing import Any

from gilwise.backends._process_worker import WORKER_NAME

_prepare = spawn.prepare


def _prepare_worker(data: dict[str, Any]) -> None:
    if data.get("name") != WORKER_NAME:
        _prepare(data)
        return
    _prepare({k: v for k, v in data.items() if not k.startswith("init_main_from")})
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = main


spawn.prepare = _prepare_worker
