"""The ``gilwise`` command line: a thin shell over the public API.

- ``main``: the ``gilwise`` command, ``map`` and ``lab`` (parse, call, print);
- ``encode``, ``scrape``: the apps' subcommands;
- ``demo``: ``gilwise demo``;
- ``jsonl``: items in from files, outcomes out as JSON lines;
- ``loader``: ``MODULE:FUNCTION`` to a function;
- ``argtypes``: argument types with one-line errors.
"""

from gilwise.cli.main import main

__all__ = ["main"]
