"""The parent's logging set up again in a worker process that did not inherit it.

A forked worker has the parent's handlers; a spawned one ran the script's top level again (a
``logging.basicConfig`` there included); a worker from the forkserver, which gilwise uses when
the parent has another thread alive, has neither: its log lines would vanish. So the parent's
root logger (the handlers that can be rebuilt: files, stderr, stdout; its level) and the
levels of its named loggers are captured when workers start, and applied in a worker whose
root logger has no handler before its first task.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

Spec = tuple[int, list[tuple[Any, ...]], dict[str, int]]


def capture() -> Spec:
    """This process's logging setup, as plain data (see ``apply``)."""
    root = logging.getLogger()
    handlers: list[tuple[Any, ...]] = []
    for h in root.handlers:
        formatter = _formatter(h.formatter)
        if isinstance(h, logging.FileHandler):
            handlers.append(("file", h.baseFilename, h.encoding, h.level, formatter))
        elif isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout):
            name = "stderr" if h.stream is sys.stderr else "stdout"
            handlers.append(("stream", name, None, h.level, formatter))
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger) and lg.level != logging.NOTSET}
    return root.level, handlers, levels


def _formatter(formatter: logging.Formatter | None) -> Any:
    """A plain Formatter's fields, or the formatter itself (a subclass: sent by value)."""
    if formatter is None or type(formatter) is logging.Formatter:
        if formatter is None:
            return None
        style = next((k for k, v in logging._STYLES.items()  # type: ignore[attr-defined]
                      if isinstance(formatter._style, v[0])), "%")
        return (formatter._fmt, formatter.datefmt, style)
    return formatter


def apply(spec: Spec | None) -> None:
    """Set up ``spec`` here, unless this worker's logging is configured already."""
    root = logging.getLogger()
    if spec is None or root.handlers:
        return
    level, handlers, levels = spec
    root.setLevel(level)
    for kind, where, encoding, handler_level, formatter in handlers:
        if kind == "file":  # appended to, never truncated: the parent opened it already
            handler: logging.Handler = logging.FileHandler(where, "a", encoding, delay=True)
        else:
            handler = logging.StreamHandler(getattr(sys, where))
        handler.setLevel(handler_level)
        if isinstance(formatter, tuple):
            fmt, datefmt, style = formatter
            formatter = logging.Formatter(fmt, datefmt, style)
        if formatter is not None:
            handler.setFormatter(formatter)
        root.addHandler(handler)
    for name, named_level in levels.items():
        logging.getLogger(name).setLevel(named_level)
