"""One HTTP GET with libcurl (pycurl: the GIL is released for the whole transfer), a
reused handle per thread (kept-alive connections), redirects followed here so that every
hop is checked (http/https only, at most 10, no loop) and retries with backoff."""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import urljoin

import pycurl

from gilwise.scrape.hosts import HostPacer
from gilwise.scrape.urls import InvalidURL, normalise

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})
MAX_REDIRECTS = 10
MAX_RETRY_AFTER = 120.0  # seconds: a longer Retry-After is cut to this
_local = threading.local()


@dataclass(frozen=True)
class FetchSettings:
    """How pages are fetched (the CLI's --timeout, --max-bytes, --retries, --user-agent)."""

    timeout: float = 30.0
    max_bytes: int = 10_000_000
    retries: int = 2
    backoff: float = 0.5
    user_agent: str = "gilwise-scrape/0.1 (+https://pypi.org/project/gilwise/)"
    # every response header in Response.headers; False: only content-type, location and
    # retry-after, asked of libcurl after the transfer (capturing the headers costs a call
    # into Python per header line, each taking the GIL back: about half a fetch's CPU)
    all_headers: bool = True


@dataclass
class Response:
    """What came back for a URL after redirects and retries; ``error`` says why it failed."""

    url: str
    final_url: str = ""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed: float = 0.0
    attempts: int = 0
    error: str | None = None
    kind: str | None = None  # the error's kind, one of records.KINDS

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


class _Failed(Exception):
    """A transfer that failed: the message for the record, ``retry`` if worth another try,
    and its ``kind`` (the summary counts errors by kind, whatever each message says)."""

    def __init__(self, message: str, retry: bool, kind: str) -> None:
        super().__init__(message)
        self.retry, self.kind = retry, kind


def http_kind(status: int) -> str:
    """The kind of an HTTP error status: its class, ``http-4xx`` or ``http-5xx``."""
    return f"http-{status // 100}xx"


def _handle(settings: FetchSettings) -> pycurl.Curl:
    """This thread's handle (its connections kept alive), set up for ``settings``."""
    curl = getattr(_local, "curl", None)
    if curl is None:
        curl = _local.curl = pycurl.Curl()
        _local.settings = None
    if _local.settings != settings:
        curl.reset()
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.FOLLOWLOCATION, 0)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(settings.timeout * 1000)))
        # a read that gets nothing for `timeout` seconds fails (libcurl counts whole seconds)
        curl.setopt(pycurl.LOW_SPEED_LIMIT, 1)
        curl.setopt(pycurl.LOW_SPEED_TIME, max(1, math.ceil(settings.timeout)))
        curl.setopt(pycurl.ENCODING, "")  # every content encoding this libcurl decodes
        curl.setopt(pycurl.USERAGENT, settings.user_agent)
        # libcurl stops a body past this even without Content-Length (libcurl 8.4+)
        curl.setopt(pycurl.MAXFILESIZE_LARGE, settings.max_bytes)
        _local.settings = settings
    return curl


def _get(url: str, settings: FetchSettings) -> tuple[int, dict[str, str], bytes]:
    """One request, no redirect followed: (status, headers lowercased, body). The body is
    written by libcurl into a buffer, no Python call per piece; so are the headers if
    ``settings.all_headers``."""
    curl = _handle(settings)
    body = BytesIO()
    head = BytesIO() if settings.all_headers else None
    curl.setopt(pycurl.URL, url)
    curl.setopt(pycurl.WRITEDATA, body)
    if head is not None:
        curl.setopt(pycurl.WRITEHEADER, head)
    try:
        curl.perform()
    except pycurl.error as exc:
        code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
        if code == pycurl.E_FILESIZE_EXCEEDED or body.tell() > settings.max_bytes:
            raise _Failed(f"too large: more than {settings.max_bytes} bytes", False,
                          "too-large") from None
        raise _error(code, message) from None
    if body.tell() > settings.max_bytes:  # decoded gzip may outgrow the limit on the wire
        raise _Failed(f"too large: more than {settings.max_bytes} bytes", False, "too-large")
    headers = _headers(head.getvalue()) if head is not None else _few_headers(curl)
    return curl.getinfo(pycurl.RESPONSE_CODE), headers, body.getvalue()


def _few_headers(curl: pycurl.Curl) -> dict[str, str]:
    """The headers the scraper reads, as libcurl parsed them."""
    headers = {}
    content_type = curl.getinfo(pycurl.CONTENT_TYPE)
    if content_type:
        headers["content-type"] = content_type
    location = curl.getinfo(pycurl.REDIRECT_URL)  # absolute, resolved by libcurl
    if location:
        headers["location"] = location
    wait = curl.getinfo(pycurl.RETRY_AFTER)  # seconds, from seconds or an HTTP date
    if wait and wait > 0:
        headers["retry-after"] = str(wait)
    return headers


def _headers(raw: bytes) -> dict[str, str]:
    """The last response's headers (after any 100 Continue), names lowercased."""
    headers: dict[str, str] = {}
    for line in raw.decode("iso-8859-1").splitlines():
        if line[:5].upper() == "HTTP/":
            headers.clear()
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


def _error(code: int, message: str) -> _Failed:
    if code == pycurl.E_COULDNT_RESOLVE_HOST:
        return _Failed(f"DNS: {message}", False, "dns")
    if code == pycurl.E_COULDNT_CONNECT:
        return _Failed(f"connection refused: {message}", True, "connection-refused")
    if code == pycurl.E_OPERATION_TIMEDOUT:
        return _Failed(f"timeout: {message}", True, "timeout")
    if code in (pycurl.E_SSL_CONNECT_ERROR, pycurl.E_PEER_FAILED_VERIFICATION,
                pycurl.E_SSL_CERTPROBLEM, pycurl.E_SSL_CIPHER, pycurl.E_SSL_CACERT_BADFILE):
        return _Failed(f"TLS: {message}", False, "tls")
    if code == pycurl.E_UNSUPPORTED_PROTOCOL:
        return _Failed(f"unsupported scheme: {message}", False, "redirect")
    return _Failed(f"connection error: {message}", True, "connection")


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if any."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    import email.utils  # here, not at start-up: ~7 ms, for the rare date form

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_RETRY_AFTER)


def _follow(url: str, settings: FetchSettings, response: Response) -> None:
    """Fetch ``url``, following redirects, into ``response`` (one attempt)."""
    seen = {url}
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = _get(current, settings)
        response.final_url, response.status, response.headers = current, status, headers
        response.body = body
        location = headers.get("location")
        if status not in (301, 302, 303, 307, 308) or not location:
            return
        target = urljoin(current, location)
        try:
            target = normalise(target)
        except InvalidURL as exc:
            raise _Failed(f"redirect refused: {exc}", False, "redirect") from None
        if target in seen:
            raise _Failed(f"redirect loop at {target}", False, "redirect")
        seen.add(target)
        current = target
    raise _Failed(f"too many redirects (more than {MAX_REDIRECTS})", False, "redirect")


def fetch(url: str, settings: FetchSettings = FetchSettings(), pacer: HostPacer | None = None,
          host: str = "") -> Response:
    """GET ``url`` with retries on connection errors, timeouts and 408/429/5xx (backoff,
    Retry-After honoured, and told to ``pacer`` so that the host's other requests wait in
    the map's gate, not in a thread)."""
    response = Response(url)
    started = time.perf_counter()
    for attempt in range(1, settings.retries + 2):
        response.attempts, response.error, response.kind = attempt, None, None
        sent = time.perf_counter()
        try:
            _follow(url, settings, response)
        except _Failed as exc:
            response.error, response.kind, retry, wait = str(exc), exc.kind, exc.retry, None
        else:
            retry = response.status in RETRY_STATUSES
            if retry:
                response.error = f"HTTP {response.status}"
                response.kind = http_kind(response.status or 0)
            wait = retry_after(response.headers.get("retry-after")) if retry else None
            if wait is not None and pacer is not None:
                pacer.hold_off(host, wait)
        if pacer is not None:
            ok = response.error is None and (response.status or 0) < 400
            pacer.observe(host, time.perf_counter() - sent, ok)
        if not retry or attempt > settings.retries:
            break
        backoff = settings.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        # this request's own retry waits here; the host's delay counts too
        floor = pacer.delay_of(host) if pacer is not None else 0.0
        time.sleep(max(backoff, wait or 0.0, floor))
    response.elapsed = time.perf_counter() - started
    return response
