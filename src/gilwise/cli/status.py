"""``gilwise status JOURNAL``: how a batch stands (live, finished or stopped), in words,
as JSON, or as a small local web page that updates itself."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``status`` to the ``gilwise`` command's subparsers."""
    s = subparsers.add_parser(
        "status", help="how a batch stands, from its journal (live or dead)",
        description="Read a batch's journal without disturbing the run writing it: its state "
        "(running, finished, or stopped when its process is gone before the end), done / "
        "failed / total, rate and ETA, the items running now and for how long, failures by "
        "type, workers recycled.",
        epilog="examples: gilwise status run.db;  gilwise status run.db --json;  "
        "gilwise status run.db --serve 8000")
    s.add_argument("journal", metavar="JOURNAL", help="the --journal file of a batch")
    s.add_argument("--json", action="store_true", help="one JSON object instead of text")
    s.add_argument("--serve", metavar="[HOST:]PORT", help="serve a page of the status that "
                   "updates itself, and /status.json (host 127.0.0.1 unless given)")
    s.set_defaults(run=run)
    return s


def run(args: argparse.Namespace) -> int:
    from gilwise import status

    found = status.read(args.journal)  # raises JournalError: one line, exit 2
    if args.serve:
        from gilwise.cli.serve import address, serve

        host, port = address(args.serve)
        return serve(args.journal, host, port)
    if args.json:
        print(json.dumps(found))
    else:
        print(status.text(found))
    sys.stdout.flush()
    return 0
