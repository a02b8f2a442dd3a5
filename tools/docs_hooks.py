"""MkDocs hook (mkdocs.yml ``hooks:``): parts of the reference generated from the code at
build time, so that they cannot drift from it.

A page holds a marker line; the build replaces it:

- ``<!-- gen:options -->``: every option of ``gilwise.map`` with its type and default, read
  from the signature (the one of ``Options``; tests/test_api.py keeps map, Pool and Pool.map
  alike);
- ``<!-- gen:cli-help gilwise map -->``: that command's ``--help`` text, as argparse prints it;
- ``<!-- gen:journal-schema -->``: the journal's tables, as ``gilwise.journal`` creates them.
"""

from __future__ import annotations

import contextlib
import html
import inspect
import io
import os
import re
import sys
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
MARKER = re.compile(r"^<!-- gen:(options|cli-help|journal-schema)(?: ([^>]*?))? -->$", re.M)


def _code(text: str) -> str:
    """A table cell's code: HTML, since a ``|`` inside backticks would split the cell."""
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


def _type_text(annotation: Any) -> str:
    text = inspect.formatannotation(annotation)
    return re.sub(r"\b(?:collections\.abc|typing|os|gilwise)\.", "", text)


def _default_text(value: Any) -> str:
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, tuple) and value and all(isinstance(v, type) for v in value):
        return "(" + ", ".join(v.__name__ for v in value) + ",)"
    return repr(value)


def options_table() -> str:
    """The options of ``gilwise.map`` (all keyword-only): name, type, default."""
    import gilwise

    rows = ["| option | type | default |", "|---|---|---|"]
    for param in inspect.signature(gilwise.map).parameters.values():
        if param.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        rows.append(f"| `{param.name}` | {_code(_type_text(param.annotation))} "
                    f"| {_code(_default_text(param.default))} |")
    return "\n".join(rows)


def cli_help(command: str) -> str:
    """``command --help`` as argparse prints it (80 columns), in a text block."""
    from gilwise.cli.main import _parser

    words = command.split()[1:]
    out = io.StringIO()
    os.environ["COLUMNS"] = "88"  # argparse wraps to it: the same text on every terminal
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        _parser().parse_args([*words, "--help"])
    return f"```text\n$ {command} --help\n{out.getvalue().rstrip()}\n```"


def _render(match: re.Match[str]) -> str:
    kind, argument = match.group(1), match.group(2)
    if kind == "journal-schema":
        from gilwise.journal import SCHEMA

        return f"```sql\n{SCHEMA.strip()}\n```"
    return options_table() if kind == "options" else cli_help(argument or "gilwise")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace each marker line by what it names."""
    if SRC not in sys.path:
        sys.path.insert(0, SRC)
    return MARKER.sub(_render, markdown)
