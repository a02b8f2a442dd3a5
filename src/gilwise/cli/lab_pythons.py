"""``gilwise lab --python PATH ... | --all-pythons``: the lab's CPU-bound experiment under
several interpreters, side by side (``gilwise.lab.across``)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from gilwise.lab.across import check_python, discover
from gilwise.lab.across_report import run_across


def lab_pythons(pythons: list[str] | None, out: Path, quick: bool, as_json: bool) -> int:
    """Exit 0 when at least one interpreter ran; 1 when none could; a bad --python path is a
    usage error (ValueError: one line, exit 2) before anything runs."""
    chosen = [check_python(p) for p in pythons] if pythons else discover()
    console = Console(stderr=True) if as_json else Console()
    report = run_across(chosen, out, quick, console)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    return 0 if report.runs else 1
