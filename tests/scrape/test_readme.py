"""The scrape API as its documentation shows it: every ``gilwise.scrape.NAME(...)`` the
scrape guide (docs/how-to/scrape.md) names is a function, and the Python examples (that
guide, package docstring) run as written, against a real server on 127.0.0.1."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _site import Site

import gilwise.scrape

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "how-to" / "scrape.md"


def scrape_section() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_every_scrape_call_the_readme_names_is_a_function():
    names = re.findall(r"gilwise\.scrape\.(\w+)\(", scrape_section())
    assert names
    for name in names:
        assert inspect.isfunction(getattr(gilwise.scrape, name, None)), \
            f"the scrape guide calls gilwise.scrape.{name}(...), which is not a function"


def readme_example() -> str:
    found = re.search(r"```python\n(.*?)```", scrape_section(), re.S)
    assert found, "the scrape guide has no Python example"
    return found.group(1)


def docstring_example() -> str:
    lines = [line[4:] for line in (gilwise.scrape.__doc__ or "").splitlines()
             if line.startswith("    ")]
    assert lines, "the package docstring has no example"
    return "\n".join(lines)


@pytest.mark.parametrize("example", [readme_example, docstring_example],
                         ids=["guide", "docstring"])
def test_the_python_example_runs_as_written(tmp_path, example):
    with Site() as site:
        code = example().replace("https://example.org/", f"{site.base}/page/1")
        ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                             text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert f"{site.base}/page/1" in ran.stdout and "Page 1" in ran.stdout
