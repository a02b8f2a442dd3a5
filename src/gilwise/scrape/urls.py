"""Input URLs: lines read with their hygiene rules, validated, normalised for dedup; and
which links a crawl follows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
# links a crawl does not follow, by the end of their path: Scrapy's LinkExtractor's default
# IGNORED_EXTENSIONS (archives, images, audio, video, office documents, other binaries),
# plus a few more archives, packages and fonts. A docs tree links to its downloads:
# fetched, they were megabytes of records without a page in them.
IGNORED_EXTENSIONS = (
    # archives
    "7z", "7zip", "bz2", "rar", "tar", "tar.gz", "xz", "zip", "gz", "tgz", "zst", "whl",
    "deb", "rpm", "msi",
    # images
    "mng", "pct", "bmp", "gif", "jpg", "jpeg", "png", "pst", "psp", "tif", "tiff", "ai",
    "drw", "dxf", "eps", "ps", "svg", "cdr", "ico", "webp", "avif",
    # audio
    "mp3", "wma", "ogg", "wav", "ra", "aac", "mid", "au", "aiff", "flac",
    # video
    "3gp", "asf", "asx", "avi", "mov", "mp4", "mpg", "qt", "rm", "swf", "wmv", "m4a", "m4v",
    "flv", "webm", "mkv",
    # office suites
    "xls", "xlsx", "ppt", "pptx", "pps", "doc", "docx", "odt", "ods", "odg", "odp",
    # other
    "css", "pdf", "exe", "bin", "rss", "dmg", "iso", "apk", "jar", "sh", "rb", "js", "hqx",
    "epub", "woff", "woff2", "ttf", "otf",
)


class InvalidURL(ValueError):
    """A URL that cannot be fetched: its message names the URL and what is wrong."""


def lines(source: Iterable[str]) -> Iterator[str]:
    """The URLs of input lines: stripped, blank lines and ``#`` comments skipped."""
    for line in source:
        text = line.strip()
        if text and not text.startswith("#"):
            yield text


def normalise(url: str) -> str:
    """The URL with its fragment removed, scheme and host lowercased, default port dropped;
    raises InvalidURL for anything but an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        raise InvalidURL(f"invalid URL {url!r}: not an absolute http(s) URL")
    if scheme not in SCHEMES:
        raise InvalidURL(f"invalid URL {url!r}: scheme {scheme!r} is not http or https")
    host = (parts.hostname or "").lower()
    if not host or " " in url.strip():
        raise InvalidURL(f"invalid URL {url!r}: no host" if not host else
                         f"invalid URL {url!r}: contains a space")
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    if parts.username or parts.password:
        auth = parts.username or ""
        if parts.password:
            auth += f":{parts.password}"
        netloc = f"{auth}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def host_of(url: str) -> str:
    """``host:port`` of a normalised URL: the unit of per-host limits and robots.txt."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def patterns(option: str, given: str | re.Pattern[str] | Sequence[str | re.Pattern[str]]
             ) -> tuple[re.Pattern[str], ...]:
    """The regular expressions of ``option`` (one, or a sequence); a ValueError naming the
    option and the pattern if one does not compile."""
    compiled = []
    for pattern in [given] if isinstance(given, (str, re.Pattern)) else given:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"{option}={pattern!r}: not a valid regular expression ({exc})"
                             ) from None
    return tuple(compiled)


class LinkFilter:
    """Which links a crawl follows: none whose path ends in one of ``skip_extensions``
    (case ignored), those matching (``re.search``, on the whole URL) an ``include``
    pattern if any is given, and none matching an ``exclude`` pattern."""

    def __init__(self, include: Sequence[re.Pattern[str]] = (),
                 exclude: Sequence[re.Pattern[str]] = (),
                 skip_extensions: str | Iterable[str] = IGNORED_EXTENSIONS) -> None:
        self.include: tuple[re.Pattern[str], ...] = tuple(include)
        self.exclude: tuple[re.Pattern[str], ...] = tuple(exclude)
        if isinstance(skip_extensions, str):
            skip_extensions = [skip_extensions]
        self.endings: tuple[str, ...] = tuple(
            "." + ext.lower().lstrip(".") for ext in skip_extensions)

    def __call__(self, url: str) -> bool:
        if self.endings and urlsplit(url).path.lower().endswith(self.endings):
            return False
        if self.include and not any(p.search(url) for p in self.include):
            return False
        return not any(p.search(url) for p in self.exclude)
