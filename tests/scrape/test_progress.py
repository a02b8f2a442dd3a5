"""The scrape's progress line: pages, rate, errors by kind, and the hosts with the most
URLs waiting."""

from __future__ import annotations

from _site import Site

from gilwise.scrape import scrape
from gilwise.scrape.progress import JOURNAL, UNFETCHED, ScrapeProgress


def test_the_line_counts_errors_by_kind_and_the_hosts_with_most_urls_waiting():
    shown = ScrapeProgress()
    for host, n in (("http://a", 3), ("http://b", 5), ("http://c", 1), ("http://d", 2)):
        for _ in range(n):
            shown.queued(host)
    shown.finished({"kind": "http-4xx", "error": "HTTP 404"}, "http://b")
    shown.finished({"kind": "timeout", "error": "timeout: 1 s"}, "http://a")
    shown.finished({"kind": "http-4xx", "error": "HTTP 410"}, "http://a")
    shown.finished({"kind": "html", "error": None}, "http://c")
    shown.finished({"kind": "not-html", "error": None}, "http://b", JOURNAL)
    shown.finished({"kind": "invalid-url", "error": "invalid URL 'x': no host"}, None, UNFETCHED)
    shown.finished({"kind": "invalid-url", "error": "invalid URL 'y': no host"}, None, UNFETCHED)
    line = shown.line(shown.started + 1.0)
    # a kind is one entry whatever its messages say; the rate counts the pages fetched now
    assert line == ("7 pages (1 from the journal), 4/s | errors: http-4xx 2, invalid-url 2, "
                    "timeout 1 | waiting: http://b 3, http://d 2, http://a 1")


def test_scrape_shows_its_progress_line_on_stderr(capfd):
    with Site() as site:
        urls = [f"{site.base}/page/{i}" for i in range(5)] + [f"{site.base}/nothing-here"]
        records = list(scrape(urls, progress=True, timeout=1.0))
    assert len(records) == 6
    err = capfd.readouterr().err
    assert "6 pages" in err and "errors: http-4xx 1" in err
