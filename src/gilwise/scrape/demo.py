"""The demo's scrape step: a generated site served on 127.0.0.1 with some latency and a
robots.txt, scraped one page at a time and then by ``gilwise scrape``'s defaults."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rich.console import Console

from gilwise.scrape import scrape

ROBOTS = b"User-agent: *\nDisallow: /private/\n"


class DemoSite(ThreadingHTTPServer):
    """``pages`` pages (each linking to the next ten), each answered after ``latency`` s."""

    daemon_threads = True

    def __init__(self, pages: int, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.pages: int = pages
        self.latency: float = latency
        self.requested: list[str] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client closing a kept-alive connection


class _Handler(BaseHTTPRequestHandler):
    server: DemoSite
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.requested.append(self.path)
        if self.path == "/robots.txt":
            body, ctype = ROBOTS, "text/plain"
        else:
            time.sleep(self.server.latency)
            n = int(self.path.rsplit("/", 1)[-1] or 0)
            links = "".join(f'<a href="/p/{(n + k) % self.server.pages}">{k}</a>'
                            for k in range(1, 11))
            body = (f"<title>Page {n}</title><p>{'demo text ' * 200}</p>{links}"
                    '<a href="/private/1">private</a>').encode()
            ctype = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def scrape_step(console: Console, pages: int = 200, latency: float = 0.01) -> None:
    """Scrape the demo site sequentially, then with the defaults; print pages/s and speedup."""
    site = DemoSite(pages, latency)
    try:
        urls = [f"{site.base}/p/{i}" for i in range(pages)] + [f"{site.base}/private/1"]
        console.print(f"\n[bold]scrape[/]: {pages} pages from a server on 127.0.0.1 answering "
                      f"after {latency * 1000:.0f} ms, with a robots.txt")
        timings = []
        for workers, per_host in ((1, 1), (16, 8)):
            started = time.perf_counter()
            records = list(scrape(urls, workers=workers, per_host=per_host, progress=False))
            timings.append(time.perf_counter() - started)
        refused = sum(r["error"] == "disallowed by robots.txt" for r in records)
        titled = sum(bool(r["title"]) for r in records)
        asked = any(path.startswith("/private/") for path in site.requested)
    finally:
        site.shutdown()
        site.server_close()
    one, many = timings
    console.print(
        f"one page at a time: {one:.2f} s ({len(urls) / one:.0f} pages/s)\n"
        f"gilwise scrape (16 workers, 8 per host): {many:.2f} s ({len(urls) / many:.0f} "
        f"pages/s), {one / many:.1f}× faster; {titled} pages with their title, {refused} "
        f"refused by robots.txt and {'yet requested!' if asked else 'never requested'}")
