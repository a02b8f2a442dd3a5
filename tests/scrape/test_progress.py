"""The scrape's progress line: pages, rate, errors by kind, and the hosts with the most
URLs waiting."""

from __future__ import annotations

from _site import Site

from gilwise.scrape import scrape
from gilwise.scrape.progress import ScrapeProgress


def test_the_line_counts_errors_by_kind_and_the_hosts_with_most_urls_waiting():
    shown = ScrapeProgress()
    for host, n in (("http://a", 3), ("http://b", 5), ("http://c", 1), ("http://d", 2)):
        for _ in range(n):
            shown.queued(host)
    shown.finished({"error": "HTTP 404"}, "http://b")
    shown.finished({"error": "timeout: 1 s"}, "http://a")
    shown.finished({"error": "HTTP 404"}, "http://a")
    shown.finished({"error": None}, "http://c")
    shown.finished({"error": "invalid URL 'x': no host"}, None)
    line = shown.line(shown.started + 1.0)
    assert line == ("5 pages, 5/s | errors: HTTP 404 2, timeout 1, invalid URL 'x' 1 | "
                    "waiting: http://b 4, http://d 2, http://a 1")


def test_scrape_shows_its_progress_line_on_stderr(capfd):
    with Site() as site:
        urls = [f"{site.base}/page/{i}" for i in range(5)] + [f"{site.base}/nothing-here"]
        records = list(scrape(urls, progress=True, timeout=1.0))
    assert len(records) == 6
    err = capfd.readouterr().err
    assert "6 pages" in err and "errors: HTTP 404 1" in err
