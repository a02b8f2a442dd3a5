"""The docs site, built by mkdocs --strict and looked at in a real headless Chromium, served
on 127.0.0.1 (Material's search needs http, not file://): the front page renders, and a
search finds the pages it should."""

from __future__ import annotations

import functools
import html
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install 'gilwise[docs]')")
pytest.importorskip("material", reason="mkdocs-material is not installed (gilwise[docs])")

#: our page beside the site's: it opens the site's search in a frame, waits for its results
#: (Material searches in a web worker, in real time), and posts them back
PROBE = """<!doctype html><title>probe</title><pre id="found"></pre>
<iframe id="site" src="/?q=QUERY" width="1200" height="900"></iframe>
<script>
const deadline = Date.now() + 60000;
function look() {
  const doc = document.getElementById("site").contentDocument;
  const items = doc ? doc.querySelectorAll(".md-search-result__item") : [];
  if (items.length || Date.now() > deadline) {
    const found = Array.from(items, item => {
      const link = item.querySelector("a");
      return {href: link ? link.getAttribute("href") : "", text: item.textContent.trim()};
    });
    const meta = doc ? doc.querySelector(".md-search-result__meta") : null;
    const report = {meta: meta ? meta.textContent.trim() : "", found};
    document.getElementById("found").textContent = JSON.stringify(report);
    fetch("/_done", {method: "POST", body: JSON.stringify(report)});
  } else {
    setTimeout(look, 100);
  }
}
setTimeout(look, 100);
</script>
<img src="/_wait" alt="">
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as `make docs` builds it (--strict: a warning fails the build)."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                            str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stdout + built.stderr
    assert "WARNING" not in built.stderr, built.stderr
    return out


class _Handler(http.server.SimpleHTTPRequestHandler):
    """The site's files, plus the probe's two ends: /_wait (held until /_done is posted,
    which keeps the probe page loading, so that Chromium dumps it only after) and /_done."""

    done: threading.Event
    report: dict[str, Any]

    def do_GET(self) -> None:
        if self.path == "/_wait":
            self.done.wait(90)
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        self.report.update(json.loads(self.rfile.read(length)))
        self.done.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(site: Path):
    handler = type("Handler", (_Handler,), {"done": threading.Event(), "report": {}})
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        handler.done.set()
        httpd.shutdown()
        httpd.server_close()


def dump_dom(url: str, profile: Path, *flags: str) -> str:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", *flags, "--dump-dom", url],
        capture_output=True, text=True, timeout=120).stdout


def test_the_build_has_every_page_and_a_search_index(site):
    index = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))
    locations = {doc["location"].split("#")[0] for doc in index["docs"]}
    for page in ("", "tutorial/", "how-to/numpy/", "how-to/long-batches/", "how-to/migrate/",
                 "reference/api/", "reference/options/", "explanation/performance/"):
        assert page in locations, f"{page or 'the front page'} is not in the search index"
    options = html.unescape(
        (site / "reference" / "options" / "index.html").read_text(encoding="utf-8"))
    # the table generated from the signature (tools/docs_hooks.py): each option, type, default
    assert "<code>share_above</code></td>\n<td><code>int | None</code></td>\n<td><code>1000000" \
        in options, "the options table was not generated from gilwise.map's signature"
    assert "usage: gilwise map" in html.unescape(
        (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8"))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
def test_the_front_page_renders_in_a_headless_browser(server, tmp_path):
    base, _ = server
    dom = dump_dom(base + "/", tmp_path / "profile", "--virtual-time-budget=3000")
    assert '<h1 id="gilwise">gilwise' in dom
    assert 'class="md-nav__link' in dom and "Tutorial" in dom and "How-to guides" in dom
    assert "md-typeset" in dom  # Material's stylesheet classes: the theme rendered it


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
def test_search_finds_the_pages_in_a_headless_browser(server, site, tmp_path):
    base, handler = server
    (site / "_probe.html").write_text(PROBE.replace("QUERY", "journal"), encoding="utf-8")
    dom = dump_dom(base + "/_probe.html", tmp_path / "profile")
    report = handler.report
    assert report, f"the probe page reported nothing; its DOM:\n{dom[:2000]}"
    hrefs = " ".join(item["href"] for item in report["found"])
    assert report["found"], f"no search results for 'journal': {report}"
    assert "long-batches" in hrefs or "journal" in hrefs, report


def test_a_newcomer_finds_big_inputs_resume_and_the_migration_tables_in_two_clicks(site):
    """The issue's bar: from the front page, one click on a link in its text leads to the page
    that holds each (the second click: the reader's own, within that page)."""
    import re

    front = (site / "index.html").read_text(encoding="utf-8")
    article = front[front.index('<article'):front.index('</article>')]
    linked = set(re.findall(r'href="([^"#]+)/"', article))
    wanted = {"big NumPy inputs": ("how-to/numpy", "share_above"),
              "resume": ("how-to/long-batches", "retry_failed"),
              "the migration tables": ("how-to/migrate", "ProcessPoolExecutor(4)")}
    for what, (page, holds) in wanted.items():
        assert page in linked, f"the front page's text has no link to {page} ({what})"
        text = html.unescape((site / page / "index.html").read_text(encoding="utf-8"))
        assert holds in text, f"{page} does not hold {holds!r} ({what})"
