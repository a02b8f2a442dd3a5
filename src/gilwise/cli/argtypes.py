"""argparse types for numbers with a bound, shared by every ``gilwise`` subcommand: the
text given and the bound it misses are named in the one-line error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def number(
    kind: type, *, at_least: float | None = None, above: float | None = None, unit: str = ""
) -> Callable[[str], Any]:
    """Parse ``kind`` (int or float) no less than ``at_least`` / more than ``above``."""
    what = ("a whole number" if kind is int else "a number") + (f" of {unit}" if unit else "")
    suffix = f" {unit}" if unit else ""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if at_least is not None and value < at_least:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {at_least}{suffix}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"{text!r} must be more than {above}{suffix}")
        return value

    return parse
