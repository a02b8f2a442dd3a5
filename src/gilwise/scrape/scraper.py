"""One record per input URL: the scraper that ``gilwise.scrape`` exposes."""

from __future__ import annotations

import functools
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gilwise
from gilwise.progress import wanted
from gilwise.scrape import client as _fetch
from gilwise.scrape.client import FetchSettings, Response, http_kind
from gilwise.scrape.hosts import HostPacer
from gilwise.scrape.parse import Field, FieldError, extract, is_html, markup
from gilwise.scrape.progress import FETCHED, JOURNAL, UNFETCHED, ScrapeProgress
from gilwise.scrape.records import FinishedPages, Writer, columns, failed
from gilwise.scrape.robots import RobotsCache
from gilwise.scrape.urls import (
    IGNORED_EXTENSIONS,
    InvalidURL,
    LinkFilter,
    host_of,
    lines,
    normalise,
    patterns,
)

__all__ = ["FetchSettings", "FieldError", "InvalidURL", "Records", "Response", "Writer",
           "fetch", "scrape"]

DISALLOWED = "disallowed by robots.txt"


def fetch(url: str, settings: FetchSettings = FetchSettings()) -> Response:
    """GET one page (redirects, retries, limits as ``scrape``), no robots.txt check."""
    return _fetch.fetch(normalise(url), settings)


@dataclass(frozen=True)
class _Job:
    """What every page gets done to it: the journal's digest of the run covers it."""

    settings: FetchSettings
    fields: tuple[Field, ...]
    text: bool
    parse: Callable[[Any], dict[str, Any]] | None
    robots: bool


class _Shared:
    """State the fetching threads share: robots.txt per host, and per-host pacing through
    ``per_key``, the map's gate: at most ``per_host`` at once, spaced by the host's delay."""

    def __init__(self, job: _Job, delay: float, auto_throttle: bool = False,
                 per_host: int = 8) -> None:
        self.robots = RobotsCache(job.settings) if job.robots else None
        self.per_key = gilwise.PerKey(self.key, per_host, interval=delay)
        self.pacer = HostPacer(delay, self.robots.crawl_delay if self.robots else None,
                               auto_throttle, per_key=self.per_key, per_host=per_host)
        # URL -> fetched, for each page this run has taken (not the journal): read and
        # dropped as its record comes out, to tell where the record came from
        self.ran: dict[str, bool] = {}

    def key(self, url: str) -> str:
        """The map's key of a URL, its host (run by the feeder, before the URL is sent)."""
        host = host_of(url)
        self.pacer.first_sight(host)
        return host


def _page(job: _Job, shared: _Shared, url: str) -> dict[str, Any]:
    """Fetch and extract one normalised URL: its record, without ``url`` (the input's)."""
    names = [f.name for f in job.fields]
    host = host_of(url)
    shared.ran[url] = False
    if shared.robots is not None:
        allowed = shared.robots.allowed(url, host)
        shared.pacer.opened(host)
        if not allowed:
            return failed(url, DISALLOWED, names, job.text, kind="robots")
    shared.ran[url] = True
    fetched_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    response = _fetch.fetch(url, job.settings, shared.pacer, host)
    record = dict.fromkeys(columns(names, job.text))
    record.update(url=url, final_url=response.final_url or None, status=response.status,
                  content_type=response.content_type or None, links=[],
                  bytes=len(response.body), elapsed=round(response.elapsed, 4),
                  fetched_at=fetched_at, attempts=response.attempts, kind=response.kind,
                  error=response.error)
    if response.error is None and response.status is not None and response.status >= 400:
        record.update(error=f"HTTP {response.status}", kind=http_kind(response.status))
    if record["error"] is None and not is_html(response.content_type):
        record["kind"] = "not-html"  # a page of another type: what it is, not an error
    elif record["error"] is None:
        record["kind"] = "html"
        html = markup(response.body, response.content_type)
        record.update(extract(html, response.final_url, job.fields, job.text))
        if job.parse is not None:
            response.body = html.encode("utf-8") if isinstance(html, str) else html
            record.update(job.parse(response))
    return record


def _crawler(seeds: list[str], depth: int, allow_domains: Sequence[str],
             max_pages: int | None, follows: Callable[[str], bool],
             on_add: Callable[[str], None] | None = None,
             ) -> tuple[gilwise.Frontier, Callable[[str, dict], None]]:
    """The frontier of a crawl from ``seeds``, and what adds a page's links to it (those
    on the domains that ``follows``, a LinkFilter, lets through; each told to ``on_add``)."""
    frontier = gilwise.Frontier(unique=True)
    depth_of = dict.fromkeys(seeds, 0)
    limit = max_pages if max_pages is not None else float("inf")
    for seed in seeds[: int(min(limit, len(seeds)))]:
        frontier.add(seed)
    domains = {urlsplit(seed).hostname or "" for seed in seeds}
    domains |= {d.lower().strip(".") for d in allow_domains}

    def on_domain(url: str) -> bool:
        host = urlsplit(url).hostname or ""
        return any(host == d or host.endswith("." + d) for d in domains)

    def follow(url: str, record: dict[str, Any]) -> None:
        level = depth_of.get(url, depth)
        if record.get("error") or level >= depth:
            return
        for link in record.get("links") or ():
            if frontier.added >= limit:
                return
            try:
                link = normalise(link)
            except InvalidURL:
                continue
            if on_domain(link) and follows(link) and frontier.add(link):
                depth_of[link] = level + 1
                if on_add is not None:
                    on_add(link)

    return frontier, follow


def _same(url: str) -> str:
    return url


def scrape(
    urls: Iterable[str],
    *,
    fields: Sequence[str | Field] = (),
    text: bool = False,
    parse: Callable[[Response], dict[str, Any]] | None = None,
    workers: int = 16,
    per_host: int = 8,
    delay: float = 0.0,
    timeout: float = 30.0,
    max_bytes: int = 10_000_000,
    retries: int = 2,
    user_agent: str = FetchSettings.user_agent,
    robots: bool = True,
    journal: str | Path | None = None,
    progress: bool | None = None,
    crawl: bool = False,
    depth: int = 1,
    allow_domains: Sequence[str] = (),
    max_pages: int | None = None,
    include: str | re.Pattern[str] | Sequence[str | re.Pattern[str]] = (),
    exclude: str | re.Pattern[str] | Sequence[str | re.Pattern[str]] = (),
    skip_extensions: str | Sequence[str] = IGNORED_EXTENSIONS,
    auto_throttle: bool = False,
) -> Records:
    """One record per input URL (blank lines and ``#`` comments skipped), as pages finish;
    the options are checked at once (ValueError), the pages fetched as the records are read.

    Duplicates (after normalising) are fetched once; an invalid URL gets a record with its
    ``error``. ``fields``: ``NAME=SELECTOR`` CSS selectors (``::text``, ``::attr(x)``);
    ``parse(response) -> dict`` adds keys to the record (``response.headers`` has every
    header; without ``parse`` only the few the scraper reads are taken). ``per_host``
    requests at most at once to one host, ``delay`` seconds between two (or robots.txt's
    Crawl-delay), waiting in the map's gate, not in a thread.
    ``journal``: a SQLite file; a re-run fetches only the pages not recorded there.
    ``crawl``: follow links breadth-first to ``depth`` (on the seeds' hosts and
    ``allow_domains`` and their subdomains), each URL once, at most ``max_pages`` URLs;
    never links whose path ends in one of ``skip_extensions`` (by default Scrapy's list:
    archives, images, media, office documents...), only those matching an ``include``
    regular expression if any, none matching an ``exclude`` one (``re.search`` on the URL).
    A page that is not HTML is a record of ``kind`` "not-html" (its ``content_type`` kept),
    not an error; each record's ``kind`` is "html", "not-html" or its error's kind.
    ``auto_throttle``: each host's delay follows its latency (about one request in flight)
    and never drops on errors, as Scrapy's AutoThrottle. ``progress``: a line on stderr
    (pages, rate, errors by kind, the hosts with most URLs waiting); None: on a terminal."""
    parsed = tuple(f if isinstance(f, Field) else Field.parse(f, "fields=") for f in fields)
    follows = LinkFilter(patterns("include", include), patterns("exclude", exclude),
                         skip_extensions)
    _check(workers=workers, per_host=per_host, timeout=timeout, max_bytes=max_bytes)
    if retries < 0 or delay < 0 or depth < 0:
        raise ValueError(f"retries={retries!r}, delay={delay!r}, depth={depth!r} must be >= 0")
    if max_pages is not None and max_pages < 1:
        raise ValueError(f"max_pages={max_pages!r} must be a positive integer")
    settings = FetchSettings(timeout=timeout, max_bytes=max_bytes, retries=retries,
                             user_agent=user_agent, all_headers=parse is not None)
    job = _Job(settings, parsed, text, parse, robots)
    shared = _Shared(job, delay, auto_throttle, per_host)
    task = functools.partial(_page, job, shared)
    crawler = functools.partial(_crawler, depth=depth, allow_domains=allow_domains,
                                max_pages=max_pages, follows=follows) if crawl else None
    return Records(_records(urls, task, job, crawler, workers=workers, shared=shared,
                            journal=journal, progress=progress))


class Records(Iterator[dict[str, Any]]):
    """The records of ``scrape``, as pages finish. ``sourced()`` yields each with where it
    came from: FETCHED by this run, from the JOURNAL of an earlier one, or UNFETCHED (an
    invalid URL, robots.txt's no, a line repeating a URL already done)."""

    def __init__(self, pairs: Generator[tuple[dict[str, Any], str], None, None]) -> None:
        self._pairs = pairs

    def __next__(self) -> dict[str, Any]:
        return next(self._pairs)[0]

    def sourced(self) -> Iterator[tuple[dict[str, Any], str]]:
        return self._pairs

    def close(self) -> None:
        """Stop: what is still being fetched is cancelled."""
        self._pairs.close()


def _records(urls: Iterable[str], task: Callable[[str], dict[str, Any]], job: _Job,
             crawler: Callable[..., Any] | None, *, workers: int, shared: _Shared,
             journal: str | Path | None, progress: bool | None
             ) -> Generator[tuple[dict[str, Any], str], None, None]:
    """The records of ``scrape`` with their sources: input hygiene, dedup, the map, a
    crawl's frontier."""
    names, text = [f.name for f in job.fields], job.text
    early: deque[dict[str, Any]] = deque()  # records made without fetching
    first: dict[str, str] = {}  # normalised URL in flight -> the input line that asked for it
    waiting: dict[str, list[str]] = {}  # normalised URL in flight -> its duplicates' lines
    done = FinishedPages()  # for duplicates that come later
    shown = ScrapeProgress(delay=1.0 if progress is None else 0.0) if wanted(progress) \
        else None

    def unique() -> Iterator[str]:
        for raw in lines(urls):
            try:
                url = normalise(raw)
            except InvalidURL as exc:
                early.append(failed(raw, str(exc), names, text, kind="invalid-url"))
                continue
            if url in done:
                early.append({**done.get(url), "url": raw})
            elif url in first:
                waiting.setdefault(url, []).append(raw)
            else:
                first[url] = raw
                if shown is not None:
                    shown.queued(host_of(url))
                yield url

    def early_records() -> Iterator[tuple[dict[str, Any], str]]:
        while early:
            record = early.popleft()
            if shown is not None:
                shown.finished(record, None, UNFETCHED)
            yield record, UNFETCHED

    source: Iterable[str] = unique()
    follow: Callable[[str, dict[str, Any]], None] | None = None
    if crawler is not None:
        added = (lambda url: shown.queued(host_of(url))) if shown is not None else None
        source, follow = crawler(list(unique()), on_add=added)
    per_key, ran = shared.per_key, shared.ran
    results = gilwise.map(task, source, mode="threads", workers=workers, ordered=False,
                          on_error="return", per_key=per_key, journal=journal,
                          key=_same if journal is not None else None, progress=False,
                          max_in_flight=max(10_000, 4 * workers * per_key.limit))
    try:
        with results:
            for value in results:
                yield from early_records()
                if isinstance(value, gilwise.Failure):
                    url = value.item
                    record = failed(url, f"{value.exc_type}: {value.message}", names, text,
                                    kind="crash")
                else:
                    url, record = value["url"], value
                record = {**record, "url": first.pop(url, url)}
                fetched = ran.pop(url, None)
                source = JOURNAL if fetched is None else FETCHED if fetched else UNFETCHED
                done.add(url, record)
                if shown is not None:
                    shown.finished(record, host_of(url), source)
                yield record, source
                if follow is not None:
                    follow(url, record)
                for raw in waiting.pop(url, ()):
                    if shown is not None:
                        shown.finished(record, None, UNFETCHED)
                    yield {**record, "url": raw}, UNFETCHED
            yield from early_records()
    finally:
        done.close()
        if shown is not None:
            shown.close()


def _check(**positive: float) -> None:
    for name, value in positive.items():
        if not value > 0:
            raise ValueError(f"{name}={value!r} must be more than 0")
