"""The ``gilwise scrape`` subcommand: read URLs (files or ``-``), write one record per URL
as JSON lines or CSV, print a summary. Exit 0 every page fetched (HTML or not), 1 some
failed, 2 usage, 130 interrupted (the output then holds every record up to then)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from gilwise.cli.argtypes import number
from gilwise.scrape.progress import FETCHED, JOURNAL, UNFETCHED, error_kind

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_count, _count0 = number(int, at_least=1), number(int, at_least=0)
_delay, _timeout = number(float, at_least=0), number(float, at_least=0.001)


def _regex(text: str) -> str:
    """A regular expression that compiles (argparse's one-line error if not)."""
    try:
        re.compile(text)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid regular expression ({exc})"
                                         ) from None
    return text


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``scrape`` to the ``gilwise`` command's subparsers (no scraping import here)."""
    s = subparsers.add_parser(
        "scrape", help="fetch many URLs politely on threads, one record per URL",
        description="Fetch every URL given (files of URLs, one a line, '-' for stdin, or URLs "
        "themselves) and write one record per input URL: url, final_url, status, title, "
        "description, links, fields, error... robots.txt is obeyed; at most --per-host "
        "requests at once to one host. With --journal a re-run fetches only what is missing.",
        epilog="examples: gilwise scrape urls.txt -o pages.jsonl;  gilwise scrape urls.txt "
        "-o products.csv --field price='.price::text' --field img='img.main::attr(src)'")
    s.add_argument("inputs", nargs="+", metavar="INPUT", help="a file of URLs, '-', or a URL")
    s.add_argument("-o", "--output", default="-", help="records to this file: .csv for CSV, "
                   "else JSON lines (default: stdout)")
    s.add_argument("--field", action="append", default=[], metavar="NAME=SELECTOR",
                   help="a CSS selector to extract, ::text or ::attr(name) (repeatable)")
    s.add_argument("--text", action="store_true", help="add the page's visible text")
    s.add_argument("--workers", type=_count, default=16, help="fetches at once "
                   "(default 16)")
    s.add_argument("--per-host", type=_count, default=8, help="fetches at once to "
                   "one host (default 8)")
    s.add_argument("--delay", type=_delay, default=0.0, help="seconds between two "
                   "requests to one host (robots.txt's Crawl-delay if longer)")
    s.add_argument("--auto-throttle", action="store_true", help="adapt each host's delay to "
                   "its latency (about one request in flight to it) and back off on errors")
    s.add_argument("--timeout", type=_timeout, default=30.0, help="seconds to "
                   "connect, and for each read (default 30)")
    s.add_argument("--max-bytes", type=_count, default=10_000_000,
                   help="largest response body (default 10 MB)")
    s.add_argument("--retries", type=_count0, default=2, help="retries on connection "
                   "errors, timeouts, 408, 429 and 5xx (default 2)")
    s.add_argument("--user-agent", help="the User-Agent header (default: gilwise-scrape/...)")
    s.add_argument("--ignore-robots", action="store_true", help="do not read robots.txt")
    s.add_argument("--crawl", action="store_true", help="follow links breadth-first, on the "
                   "seeds' hosts, each URL once")
    s.add_argument("--depth", type=_count0, default=1, help="--crawl: links followed "
                   "this many steps from a seed (default 1)")
    s.add_argument("--allow-domain", action="append", default=[], metavar="DOMAIN",
                   help="--crawl: also follow links to DOMAIN and its subdomains (repeatable)")
    s.add_argument("--max-pages", type=_count, help="--crawl: at most this many URLs")
    s.add_argument("--include", action="append", default=[], type=_regex, metavar="REGEX",
                   help="--crawl: follow only links matching one of these (repeatable)")
    s.add_argument("--exclude", action="append", default=[], type=_regex, metavar="REGEX",
                   help="--crawl: never follow links matching one of these (repeatable); "
                   "links to archives, images, media, PDFs... are never followed")
    s.add_argument("--journal", help="SQLite file of finished pages: run again to resume")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    s.set_defaults(run=run)
    return s


def _inputs(inputs: list[str]) -> Iterator[str]:
    for name in inputs:
        if name == "-":
            yield from sys.stdin
        elif "://" in name:
            yield name
        else:
            with open(name, encoding="utf-8") as file:
                yield from file


def run(args: argparse.Namespace) -> int:
    """Run ``gilwise scrape``; returns the exit code."""
    try:
        from gilwise.scrape import FetchSettings, FieldError, Writer, scrape
        from gilwise.scrape.parse import Field
    except ImportError as exc:
        print(f"gilwise scrape: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    for name in args.inputs:
        if name != "-" and "://" not in name:
            try:
                open(name, encoding="utf-8").close()
            except OSError as exc:
                print(f"gilwise scrape: error: cannot read {name!r}: {exc.strerror}",
                      file=sys.stderr)
                return EXIT_USAGE
    try:
        fields = [Field.parse(spec) for spec in args.field]
    except FieldError as exc:
        print(f"gilwise scrape: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    records = scrape(_inputs(args.inputs), fields=fields, text=args.text,
                     workers=args.workers, per_host=args.per_host, delay=args.delay,
                     timeout=args.timeout, max_bytes=args.max_bytes, retries=args.retries,
                     user_agent=args.user_agent or FetchSettings.user_agent,
                     robots=not args.ignore_robots, journal=args.journal,
                     progress=args.progress, crawl=args.crawl, depth=args.depth,
                     allow_domains=args.allow_domain, max_pages=args.max_pages,
                     include=args.include, exclude=args.exclude,
                     auto_throttle=args.auto_throttle)
    summary = _Summary()
    with Writer(args.output, [f.name for f in fields], args.text) as out:
        try:
            for record, source in records.sourced():
                out.write(record)
                summary.add(record, source)
        except KeyboardInterrupt:
            print(f"gilwise scrape: interrupted after {out.count} records (all written); "
                  "run again with the same --journal to fetch the rest", file=sys.stderr)
            return EXIT_INTERRUPTED
    summary.print()
    return EXIT_OK if not summary.errors else EXIT_FAILED


class _Summary:
    """Pages; those fetched now (pages/s, bytes: not the journal's) apart from those the
    journal gave back and those not fetched; status counts, pages not HTML, errors by
    kind, slowest hosts."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.pages = self.bytes = self.not_html = 0
        self.sources: Counter[str] = Counter()
        self.status: Counter[Any] = Counter()
        self.errors: Counter[str] = Counter()
        self.host_seconds: defaultdict[str, list[float]] = defaultdict(list)

    def add(self, record: dict[str, Any], source: str = FETCHED) -> None:
        self.pages += 1
        self.sources[source] += 1
        self.status[record.get("status")] += 1
        if record.get("error"):
            self.errors[error_kind(record)] += 1
        elif record.get("kind") == "not-html":
            self.not_html += 1
        if source == FETCHED and record.get("fetched_at"):
            self.bytes += record.get("bytes") or 0
            host = (record.get("final_url") or record["url"]).split("/")[2]
            self.host_seconds[host].append(record.get("elapsed") or 0.0)

    def print(self) -> None:
        seconds = time.perf_counter() - self.started
        fetched = self.sources[FETCHED]
        rate = fetched / seconds if seconds else 0.0
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.status.items(), key=str))
        head = (f"{self.pages} pages: {fetched} fetched in {seconds:.1f} s ({rate:.0f} "
                f"pages/s, {self.bytes / 1e6:.1f} MB)")
        if self.sources[JOURNAL]:
            head += f", {self.sources[JOURNAL]} from the journal"
        if self.sources[UNFETCHED]:
            head += f", {self.sources[UNFETCHED]} not fetched"
        head += f"; status {statuses}"
        if self.not_html:
            head += f"; {self.not_html} not HTML"
        lines = [head]
        if self.errors:
            lines.append("errors: " + ", ".join(f"{k} {v}" for k, v in self.errors.most_common()))
        slow = sorted(self.host_seconds.items(), key=lambda kv: -sum(kv[1]) / len(kv[1]))[:3]
        if len(slow) > 1:
            lines.append("slowest hosts: " + ", ".join(
                f"{host} {sum(s) / len(s):.2f} s/page" for host, s in slow))
        print("\n".join(lines), file=sys.stderr)
