"""Batch scraping: whole `gilwise scrape` runs against aiohttp + uvloop and Scrapy.

A real server started here on 127.0.0.1 (nginx from Debian's nginx-light when it is
installed, else Python's ThreadingHTTPServer: the table says which) serves generated pages
of ~10 KB, each with a title and 40 links, and a robots.txt. Every contender is a whole
process run (start-up included) over the same URLs with 16 requests at once, extracting
title and links of every page; each output is checked page by page. gilwise: `gilwise
scrape --workers 16 --per-host 16` (every page is on one host; robots.txt obeyed), which is
pycurl + selectolax on gilwise.map threads. aiohttp with uvloop and lxml, 16 at once (a
semaphore); Scrapy with CONCURRENT_REQUESTS(_PER_DOMAIN)=16 and its own selectors.
gilwise's modules are byte-compiled first, as pip compiles the peers' at install (run from a
source tree with PYTHONDONTWRITEBYTECODE set, each run would compile them again, ~40 ms).
Targets: gilwise >= 1.3x aiohttp+uvloop pages/s and >= 5x Scrapy.

Two variants in-process (`gilwise.scrape.scrape`, start-up excluded), on Python servers
that add latency (gilwise.scrape.demo.DemoSite, each in its own process): 400 URLs answered
after 50 ms with 16 workers, target within 1.15x of the ideal (400 / 16 x 50 ms); and 10
hosts, one answering after 500 ms: the nine fast hosts' pages/s with the slow one in the
batch, against the same batch without it, target >= 0.8x (the slow host may hold at most
--per-host 8 of the 16 workers).
"""

from __future__ import annotations

import compileall
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

import _harness as h
from gilwise.scrape import scrape

AIOHTTP_TARGET, SCRAPY_TARGET = 1.3, 5.0
WORKERS, LINKS = 16, 40

AIOHTTP = textwrap.dedent("""
    import asyncio, json, sys
    import aiohttp, uvloop
    from lxml import html
    from urllib.parse import urljoin

    async def main(urls, out):
        sem = asyncio.Semaphore(16)
        conn = aiohttp.TCPConnector(limit=16)
        async with aiohttp.ClientSession(connector=conn) as session:
            async def one(url):
                async with sem, session.get(url) as r:
                    body = await r.read()
                tree = html.fromstring(body)
                title = tree.findtext(".//title")
                links = [urljoin(url, a) for a in tree.xpath("//a/@href")]
                out.write(json.dumps({"url": url, "title": title, "links": links}) + "\\n")
            await asyncio.gather(*(one(u) for u in urls))

    urls = open(sys.argv[1]).read().split()
    with open(sys.argv[2], "w") as out:
        uvloop.run(main(urls, out))
""")

SCRAPY = textwrap.dedent("""
    import json, sys
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = open(sys.argv[1]).read().split()
    out = open(sys.argv[2], "w")

    class Pages(scrapy.Spider):
        name = "pages"
        start_urls = urls
        def parse(self, response):
            out.write(json.dumps({"url": response.url, "title": response.css("title::text").get(),
                                  "links": [response.urljoin(h)
                                            for h in response.css("a::attr(href)").getall()]})
                      + "\\n")

    process = CrawlerProcess({"LOG_LEVEL": "ERROR", "CONCURRENT_REQUESTS": 16,
                              "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "ROBOTSTXT_OBEY": False,
                              "TELNETCONSOLE_ENABLED": False, "COOKIES_ENABLED": False})
    process.crawl(Pages)
    process.start()
    out.close()
""")


def make_site(folder: Path, pages: int) -> None:
    folder.mkdir(parents=True)
    filler = "<p>" + "lorem ipsum dolor sit amet " * 12 + "</p>\n"
    for i in range(pages):
        links = "".join(f'<a href="/p{(i + k) % pages}.html">link {k}</a>\n'
                        for k in range(1, LINKS + 1))
        body = (f"<html><head><title>Page {i}</title></head><body>{links}"
                f"{filler * 20}</body></html>")
        (folder / f"p{i}.html").write_text(body)
    (folder / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    for path in [folder, *folder.parents][:3]:  # nginx's worker runs as nobody
        if path != Path("/tmp"):
            path.chmod(0o755)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """nginx if installed, else ThreadingHTTPServer in a child process; ``kind`` says which."""

    def __init__(self, root: Path, work: Path) -> None:
        self.port = free_port()
        nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx")
                                          else None)
        if nginx:
            conf = work / "nginx.conf"
            conf.write_text(textwrap.dedent(f"""
                worker_processes 1; pid {work}/nginx.pid; error_log {work}/error.log;
                events {{ worker_connections 1024; }}
                http {{ access_log off; client_body_temp_path {work}; proxy_temp_path {work};
                       fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
                       types {{ text/html html; text/plain txt; }} keepalive_requests 100000;
                       server {{ listen 127.0.0.1:{self.port}; root {root}; }} }}
            """))
            self.kind = "nginx " + subprocess.run([nginx, "-v"], capture_output=True,
                                                  text=True).stderr.strip().split("/")[-1]
            self.proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(work), "-g",
                                          "daemon off;"])
        else:
            self.kind = "Python ThreadingHTTPServer (nginx not installed)"
            self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port),
                                          "--bind", "127.0.0.1", "--directory", str(root)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/robots.txt", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def check(out: Path, pages: int, base: str) -> None:
    """Every page once, with its title and every link, absolute."""
    seen = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        seen[r["url"]] = r
    assert len(seen) == pages, f"{out.name}: {len(seen)} pages, not {pages}"
    for url, r in seen.items():
        i = int(url.rsplit("/p", 1)[1].split(".")[0])
        assert r["title"] == f"Page {i}", f"{out.name}: {url}: title {r['title']!r}"
        assert len(r["links"]) == LINKS and r["links"][0] == f"{base}/p{(i + 1) % pages}.html", \
            f"{out.name}: {url}: links {r['links'][:2]}"


class LatencySite:
    """gilwise.scrape.demo.DemoSite in its own process (in this one it would share the GIL
    with the scraper it serves)."""

    CODE = ("import sys, time; from gilwise.scrape.demo import DemoSite; "
            "s = DemoSite(int(sys.argv[1]), float(sys.argv[2])); print(s.base, flush=True); "
            "time.sleep(3600)")

    def __init__(self, pages: int, latency: float) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE, str(pages), str(latency)],
                                     stdout=subprocess.PIPE, text=True)
        self.base = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def latency_variant(quick: bool) -> bool:
    urls_count, latency, workers = (400, 0.05, 16)
    site = LatencySite(urls_count, latency)
    try:
        urls = [f"{site.base}/p/{i}" for i in range(urls_count)]
        times = []
        for _ in range(1 if quick else 3):
            started = time.perf_counter()
            records = list(scrape(urls, workers=workers, per_host=workers, robots=False))
            times.append(time.perf_counter() - started)
            assert all(r["title"] for r in records)
    finally:
        site.close()
    ideal = urls_count / workers * latency
    ratio = min(times) / ideal
    print(f"\nLatency: {urls_count} URLs answered after {latency * 1000:.0f} ms, {workers} "
          f"workers: best {min(times):.2f} s, ideal {ideal:.2f} s ({ratio:.2f}x the ideal)")
    print(h.verdict(ratio <= 1.15, f"latency run {ratio:.2f}x its ideal (target <= 1.15)"))
    return ratio <= 1.15


def many_hosts_variant(quick: bool) -> bool:
    per_fast = 100 if quick else 300
    fast = [LatencySite(per_fast, 0.0) for _ in range(9)]
    slow = LatencySite(40, 0.5)
    try:
        fast_urls = [f"{s.base}/p/{i}" for s in fast for i in range(per_fast)]
        slow_urls = [f"{slow.base}/p/{i}" for i in range(40)]
        rates: dict[str, float] = {"without": 0.0, "with": 0.0}
        for _ in range(2 if quick else 3):  # alternated; the best of each
            for label, urls in (("without", fast_urls), ("with", slow_urls[:20] + fast_urls)):
                started = time.perf_counter()
                last_fast = 0.0
                for record in scrape(urls, workers=16, robots=False):
                    if not record["url"].startswith(slow.base):
                        last_fast = time.perf_counter() - started
                rates[label] = max(rates[label], len(fast_urls) / last_fast)
    finally:
        for site in [*fast, slow]:
            site.close()
    ratio = rates["with"] / rates["without"]
    print(f"\nMany hosts: 9 fast hosts x {per_fast} pages, and a host answering after 500 ms: "
          f"fast pages/s {rates['without']:,.0f} without it, {rates['with']:,.0f} with it")
    print(h.verdict(ratio >= 0.8, f"fast hosts keep {ratio:.2f}x their pages/s beside a slow "
                                  "host (target >= 0.8)"))
    return ratio >= 0.8


def main() -> int:
    args = h.parse_args(__doc__)
    pages, repeats = (1000, 3) if args.quick else (2000, 5)
    work = Path(tempfile.mkdtemp(prefix="bench-scrape-"))
    server = None
    try:
        make_site(work / "site", pages)
        server = Server(work / "site", work)
        urls = work / "urls.txt"
        urls.write_text("".join(f"{server.base}/p{i}.html\n" for i in range(pages)))
        outs = {name: work / f"{name}.jsonl" for name in ("gilwise", "aiohttp", "scrapy")}
        for name, code in (("aiohttp", AIOHTTP), ("scrapy", SCRAPY)):
            (work / f"{name}_peer.py").write_text(code)

        def run(command: list[str], out: Path):
            def go() -> None:
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                check(out, pages, server.base)
            return go

        py = sys.executable
        compileall.compile_dir(importlib.util.find_spec("gilwise").submodule_search_locations[0],
                              quiet=1)
        cs = [h.Contender("gilwise scrape", pages, run(
            [py, "-m", "gilwise", "scrape", str(urls), "-o", str(outs["gilwise"]), "--workers",
             str(WORKERS), "--per-host", str(WORKERS), "--no-progress"], outs["gilwise"]))]
        have = {m: importlib.util.find_spec(m) is not None
                for m in ("aiohttp", "uvloop", "lxml", "scrapy")}
        if have["aiohttp"] and have["uvloop"] and have["lxml"]:
            cs.append(h.Contender("aiohttp + uvloop + lxml", pages, run(
                [py, str(work / "aiohttp_peer.py"), str(urls), str(outs["aiohttp"])],
                outs["aiohttp"])))
        if have["scrapy"]:
            cs.append(h.Contender("Scrapy", pages, run(
                [py, str(work / "scrapy_peer.py"), str(urls), str(outs["scrapy"])],
                outs["scrapy"]), repeats=1))
        h.measure(cs, repeats)
        print(f"{pages} pages of ~10 KB ({LINKS} links each) from {server.kind} on 127.0.0.1; "
              f"{WORKERS} at once; whole process runs, every output checked page by page")
        print(h.table("Batch scraping (items: pages)", cs, unit="pages/s"))
        passed = []
        gilwise = cs[0]
        for c, target in zip(cs[1:], (AIOHTTP_TARGET, SCRAPY_TARGET)):
            ratio = gilwise.rate / c.rate
            passed.append(ratio >= target)
            print(h.verdict(passed[-1], f"gilwise scrape {ratio:.2f}x the pages/s of {c.name} "
                                        f"(target >= {target})"))
        missing = [m for m, ok in have.items() if not ok]
        if missing:
            print(f"not measured (not installed): {', '.join(missing)}")
        passed.append(latency_variant(args.quick))
        passed.append(many_hosts_variant(args.quick))
        return h.exit_status(passed)
    finally:
        if server is not None:
            server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
