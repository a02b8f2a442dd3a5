"""A real HTTP server on 127.0.0.1 (ThreadingHTTPServer in a thread) serving every case the
scraper must handle, logging each request and counting how many run at once; and
``wait_until``, the tests' wait for a condition, with a deadline."""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PAGE = """<html><head><title> Page {n} </title>
<meta name="description" content="About page {n}"></head>
<body><h1 class="t">Heading {n}</h1><span class="price">{n}.00</span>
<img class="main" src="/img/{n}.png"><a href="/page/{next}#top">next</a>
<a href="/page/0">home</a>
<a href="https://other.example/x">out</a><a href="mailto:a@b">mail</a></body></html>"""

# a docs tree as a crawl meets it: pages, files of every kind (none of which a crawl should
# ask for), a page that is not HTML, and pages that a pattern may leave out
DOCS = """<html><head><title>Docs</title></head><body>
<a href="/docs/a.html">a</a><a href="/docs/data.json">data</a><a href="/docs/old/b.html">old</a>
<a href="/files/docs.zip">zip</a><a href="/files/docs.tar.gz">tar</a>
<a href="/files/logo.png">png</a><a href="/files/Manual.PDF">pdf</a>
<a href="/files/talk.mp4?v=2">video</a><a href="/page/1">elsewhere</a></body></html>"""
DOC = "<html><head><title>{name}</title></head><body><a href=\"/docs/\">up</a></body></html>"

ROBOTS = "User-agent: *\nDisallow: /private\nCrawl-delay: {delay}\n"


def wait_until(condition: Callable[[], object], timeout: float = 60.0,
               what: str = "the condition") -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds (a deadline
    generous enough for a busy machine, never a guess at how long something takes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)


class Site(ThreadingHTTPServer):
    """``log``: every path asked for, in order; ``most_at_once``: the peak of concurrent
    requests; ``delay``: seconds each /page/ answer takes; ``hits``: requests per path.

    A request counts as open from its arrival until its answer's last write begins (the
    client cannot have the whole answer before then, so cannot send its next request):
    a server thread slow to run after that write never inflates the peak. ``gather``: each
    /page/ answer waits (at most 10 s) until that many requests have been open at once, so
    that a test of a limit of N sees N reached however busy the machine."""

    daemon_threads = True

    def __init__(self, page_delay: float = 0.0, crawl_delay: float = 0.0,
                 gather: int = 1) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.page_delay, self.crawl_delay, self.gather = page_delay, crawl_delay, gather
        self.log: list[tuple[float, str]] = []
        self.hits: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.opened = threading.Condition(self.lock)
        self.now = self.most_at_once = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client closing a kept-alive connection is no news

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.log]

    def __enter__(self) -> Site:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Site
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in two writes
    timeout = 1.0  # an idle kept-alive connection is closed: no handler thread outlives a test

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        site = self.server
        with site.lock:
            site.log.append((time.monotonic(), self.path))
            site.hits[self.path] += 1
            hits = site.hits[self.path]
            site.now += 1
            site.most_at_once = max(site.most_at_once, site.now)
            site.opened.notify_all()
        self._open = True
        try:
            self._answer(self.path, hits)
        finally:
            self._close()

    def _close(self) -> None:
        """This request no longer counts as open (once, before its answer's last write)."""
        if self._open:
            self._open = False
            with self.server.lock:
                self.server.now -= 1

    def _send(self, status: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8",
              **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if not body:
            self._close()
        self.end_headers()
        if body:
            self._close()
            self.wfile.write(body)

    def _answer(self, path: str, hits: int) -> None:  # noqa: C901 - one branch per case
        site = self.server
        if path == "/robots.txt":
            self._send(200, ROBOTS.format(delay=site.crawl_delay).encode(), "text/plain")
        elif path.startswith(("/page/", "/private/")):
            with site.opened:
                site.opened.wait_for(lambda: site.most_at_once >= site.gather, timeout=10.0)
            time.sleep(site.page_delay)
            n = int(path.rstrip("/").rsplit("/", 1)[1].split("#")[0] or 0)
            self._send(200, PAGE.format(n=n, next=n + 1).encode())
        elif path == "/redirect":
            self._send(302, Location="/page/1")
        elif path in ("/loop-a", "/loop-b"):
            self._send(302, Location="/loop-b" if path == "/loop-a" else "/loop-a")
        elif path == "/to-ftp":
            self._send(301, Location="ftp://127.0.0.1/file")
        elif path == "/flaky":
            self._send(500) if hits == 1 else self._send(200, b"<title>flaky</title>")
        elif path == "/limited":
            if hits == 1:
                self._send(429, Retry_After="1")
            else:
                self._send(200, b"<title>limited</title>")
        elif path == "/slow":
            time.sleep(2.5)
            self._send(200, b"<title>slow</title>")
        elif path == "/big":
            self._send(200, b"<title>big</title>" + b"x" * 200_000)
        elif path == "/docs/":
            self._send(200, DOCS.encode())
        elif path.startswith("/docs/") and path.endswith(".html"):
            self._send(200, DOC.format(name=path.rsplit("/", 1)[1]).encode())
        elif path == "/docs/data.json":
            self._send(200, b'{"a": 1}', "application/json")
        elif path.startswith("/files/"):
            self._send(200, bytes(range(256)) * 40, "application/octet-stream")
        elif path == "/binary":
            self._send(200, bytes(range(256)) * 4, "application/octet-stream")
        elif path == "/latin1":
            self._send(200, "<title>café</title>".encode("latin-1"),
                       "text/html; charset=iso-8859-1")
        elif path == "/cp1252-meta":
            body = '<meta charset="windows-1252"><title>“quoted” €</title>'.encode("cp1252")
            self._send(200, body, "text/html")
        elif path == "/utf8":
            self._send(200, "<title>naïve ☃ 日本</title>".encode(), "text/html")
        elif path == "/gzip":
            body = gzip.compress(b"<title>zipped</title>")
            self._send(200, body, Content_Encoding="gzip")
        elif path == "/base":
            self._send(200, b'<base href="https://cdn.example/root/"><a href="a/b.html">x</a>'
                       b'<a href="/c">y</a>')
        else:
            self._send(404, b"<title>not found</title>")
