"""Input URLs: lines read with their hygiene rules, validated, normalised for dedup."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


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
