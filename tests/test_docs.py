"""Every ```python block of the docs (docs/**/*.md) and of README.md runs as written.

Each block is one test, named by its page and line (``docs/tutorial.md:25``), and runs
**alone, as a script**: written to a file in a fresh folder and run by this interpreter, so a
block must hold its own imports and data, as a reader who pastes it into a file would need
(no state passes between the blocks of a page; processes and ``__main__`` behave as in a
script). A block that cannot run here (a cluster, a site on the internet) is preceded by a
line ``<!-- test_docs: skip (why, and what tests it instead) -->``; a block needing an extra
that is not installed (dask, numpy, joblib...) is skipped naming it. Anything not to be
run is fenced as ```text or ```console.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import gilwise

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^(?P<indent>[ \t]*)```python[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
                   re.M | re.S)
SKIP = re.compile(r"<!--\s*test_docs:\s*skip\s*\((?P<why>.*)\)\s*-->\s*$")


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, reason to skip or None) of each ```python block of a page."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        code = textwrap.dedent(match.group("code"))
        found.append((line, code, skip.group("why") if skip else None))
    return found


def examples() -> list[object]:
    params = []
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        for line, code, skip in blocks(page):
            marks = [pytest.mark.skip(reason=skip)] if skip else []
            params.append(pytest.param(code, id=f"{name}:{line}", marks=marks))
    return params


def missing_modules(code: str) -> list[str]:
    """The top-level modules a block imports that this interpreter cannot find."""
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    missing = [name for name in sorted(names) if importlib.util.find_spec(name) is None]
    if "gilwise" in names:  # gilwise's own extras: a submodule whose dependency is absent
        for extra, needs in {"gilwise.scrape": "pycurl", "gilwise.joblib": "joblib",
                             "gilwise.encode": "av"}.items():
            if extra in code and importlib.util.find_spec(needs) is None:
                missing.append(needs)
    if 'mode="dask"' in code and importlib.util.find_spec("distributed") is None:
        missing.append("distributed")
    return missing


def test_the_docs_have_examples():
    """The collector finds the blocks (a changed fence would otherwise pass by finding none)."""
    assert len(examples()) >= 10
    assert blocks(ROOT / "README.md"), "README.md has no ```python block"


@pytest.mark.parametrize("code", examples())
def test_the_example_runs_as_written(code, tmp_path):
    missing = missing_modules(code)
    if missing:
        pytest.skip(f"needs {', '.join(missing)}, not installed here")
    (tmp_path / "example.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [SRC, *filter(None, [os.environ.get("PYTHONPATH")])])}
    ran = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=110)
    assert ran.returncode == 0, f"the example failed:\n{ran.stdout}\n{ran.stderr}"


def test_the_reference_names_every_public_name():
    """The API reference is generated per name: a name added to gilwise.__all__ without a
    ``::: gilwise.NAME`` line would be missing from it."""
    reference = "".join((ROOT / "docs" / "reference" / page).read_text(encoding="utf-8")
                        for page in ("api.md", "errors.md"))
    missing = [name for name in gilwise.__all__ if f"::: gilwise.{name}\n" not in reference]
    assert not missing, f"docs/reference/api.md lacks ::: gilwise.NAME for {missing}"


def bullets(markdown: str) -> list[str]:
    """The top-level bullets of a Markdown list, each with its continuation lines."""
    return [b.replace("\n", " ") for b in re.split(r"\n- ", "\n" + markdown)[1:]]


def test_the_readme_figures_are_those_of_benchmarks_md():
    """The README's headline figures are quoted from BENCHMARKS.md's summary (which the
    site's Performance page includes whole): each README bullet's ratios and sizes must all
    be in one bullet of that summary, or they have drifted."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## How fast")
    section = readme[start:readme.index("\n## ", start + 1)]
    benchmarks = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    start = benchmarks.index("## Summary")
    summary = bullets(benchmarks[start:benchmarks.index("\n## ", start + 1)])
    figure = re.compile(r"\d[\d,.]*(?:-\d[\d.]*)?x\b|\d[\d,.]* MB")
    quoted = [(bullet, figure.findall(bullet)) for bullet in bullets(section)]
    assert sum(len(figures) for _, figures in quoted) >= 8, quoted
    for bullet, figures in quoted:
        assert any(all(f in source for f in figures) for source in summary), \
            f"README figures {figures} are in no bullet of BENCHMARKS.md's summary: {bullet}"


CONSOLE = re.compile(r"^(?P<indent>[ \t]*)```console[ \t]*\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
                     re.M | re.S)


def console_commands() -> list[object]:
    """Each ``gilwise ...`` line of the docs' ```console blocks (a ``$ `` prompt, a comment
    and a pipe into it allowed), as (page:line, its words after ``gilwise``)."""
    import shlex

    params = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        name = page.relative_to(ROOT).as_posix()
        for match in CONSOLE.finditer(text):
            first = text.count("\n", 0, match.start("code")) + 1
            lines = textwrap.dedent(match.group("code")).splitlines()
            for offset in range(len(lines)):
                if offset and lines[offset - 1].endswith("\\"):
                    continue  # a continuation line: joined to the line it continues
                end = offset
                while lines[end].endswith("\\") and end + 1 < len(lines):
                    end += 1
                command = " ".join(part.removesuffix("\\") for part in lines[offset:end + 1])
                command = command.removeprefix("$ ").rsplit("| ", 1)[-1].strip()
                if command.startswith("gilwise "):
                    words = shlex.split(command, comments=True)[1:]
                    params.append(pytest.param(words, id=f"{name}:{first + offset}"))
    return params


def test_the_docs_show_commands():
    """The collector finds the command lines (a changed fence would pass by finding none)."""
    assert len(console_commands()) >= 15


@pytest.mark.parametrize("words", console_commands())
def test_the_command_line_shown_parses(words):
    """Every ``gilwise`` command the docs show is one the parser accepts as written: an
    option renamed or removed, a bad choice or value there fails here, not for a reader."""
    import contextlib
    import io

    from gilwise.cli.main import _parser

    errors = io.StringIO()
    with contextlib.redirect_stderr(errors):
        try:
            _parser().parse_args(words)
        except SystemExit as exit_:
            assert exit_.code == 0, f"gilwise {' '.join(words)}: {errors.getvalue().strip()}"


def test_the_cli_reference_has_every_command():
    """docs/reference/cli.md holds a generated ``--help`` for each command the parser has."""
    from gilwise.cli.main import _parser

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    commands = next(a.choices for a in _parser()._actions if a.choices)
    missing = [c for c in commands if f"<!-- gen:cli-help gilwise {c} -->" not in page]
    assert not missing, f"docs/reference/cli.md has no --help of gilwise {missing}"


def test_the_status_json_fields_are_those_documented(tmp_path):
    """The table of docs/reference/journal.md names every field `status --json` prints, and
    no other."""
    journal = tmp_path / "run.db"
    list(gilwise.map(abs, range(5), mode="threads", journal=journal))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [SRC, *filter(None, [os.environ.get("PYTHONPATH")])])}
    shown = subprocess.run([sys.executable, "-m", "gilwise", "status", str(journal), "--json"],
                           capture_output=True, text=True, check=True, env=env)
    import json

    printed = set(json.loads(shown.stdout))
    page = (ROOT / "docs" / "reference" / "journal.md").read_text(encoding="utf-8")
    table = page[page.index("| field | meaning |"):]
    table = table[:table.index("\n\n")]
    documented = {name for row in table.splitlines()[2:]
                  for name in re.findall(r"`([a-z_]+)`", row.split(" | ")[0])}
    assert printed == documented, (f"printed, not documented: {printed - documented}; "
                                   f"documented, not printed: {documented - printed}")
