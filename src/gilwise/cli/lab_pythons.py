"""``gilwise lab --python PATH ... | --all-pythons``: the lab's CPU-bound experiment under
several interpreters, side by side (``gilwise.lab.across``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console

from gilwise.lab.across import check_python, discover
from gilwise.lab.across_report import run_across


def lab_pythons(pythons: list[str] | None, out: Path, quick: bool, as_json: bool,
                all_pythons: bool = False) -> int:
    """Exit 0 when at least one interpreter ran; 1 when none could; a bad --python path is a
    usage error (ValueError: one line, exit 2) before anything runs. --all-pythons with
    --python: those named, then every other one found."""
    named = [check_python(p) for p in pythons or ()]
    seen = {os.path.realpath(p) for p in named}
    found = discover() if all_pythons or not named else []
    chosen = named + [p for p in found if os.path.realpath(p) not in seen]
    console = Console(stderr=True) if as_json else Console()
    report = run_across(chosen, out, quick, console)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0 if report.runs else 1
