"""Per-host politeness, kept by ``gilwise.map``'s ``PerKey`` (no fetching thread ever sleeps
for a host): ``--delay``, Crawl-delay, a host's 429/503 Retry-After holding back every
request to it (not only the one that got it), and ``--auto-throttle``: the delay adapted to
the host's latency, as Scrapy's AutoThrottle."""

from __future__ import annotations

import threading
from collections.abc import Callable

from gilwise import PerKey

MAX_AUTO_DELAY = 60.0  # seconds: auto-throttle never waits longer between two requests


class HostPacer:
    """Each host's delay between two requests, told to ``per_key`` (the map's per-host gate).

    A host opens at one request at a time until its robots.txt is read (``opened``): then
    it gets ``per_host`` slots and ``max(delay, Crawl-delay)`` between starts. With
    ``auto_throttle``, each response moves the host's delay halfway towards
    ``latency / target_concurrency`` (so about that many requests are in flight to it); an
    error or an HTTP error status never lowers it. It stays between the host's floor
    (``delay`` or its Crawl-delay) and MAX_AUTO_DELAY."""

    def __init__(self, delay: float = 0.0,
                 crawl_delay: Callable[[str], float | None] | None = None,
                 auto_throttle: bool = False, target_concurrency: float = 1.0,
                 per_key: PerKey | None = None, per_host: int = 8) -> None:
        self.delay = delay
        self.crawl_delay = crawl_delay  # a host's own delay (robots.txt), asked once per host
        self.auto_throttle: bool = auto_throttle
        self.target_concurrency: float = target_concurrency
        self.per_key: PerKey | None = per_key
        self.per_host: int = per_host
        self._lock = threading.Lock()
        self._seen: set[str] = set()  # hosts the gate has been told to open one at a time
        self._floor: dict[str, float] = {}  # host -> max(delay, its Crawl-delay)
        self._delay: dict[str, float] = {}  # host -> its delay now (auto-throttle moves it)

    def first_sight(self, host: str) -> None:
        """Before the first request to ``host`` is sent (the map's key function, so in the
        feeder): one request at a time to it until ``opened``, its robots.txt read."""
        if host not in self._seen and self.per_key is not None and self.crawl_delay:
            self._seen.add(host)
            self.per_key.set(host, limit=1)

    def opened(self, host: str) -> None:
        """``host``'s robots.txt is read: its slots and its delay, from this request on."""
        with self._lock:
            if host in self._delay:
                return
            delay = self._delay_of(host)
        if self.per_key is not None:
            self.per_key.set(host, limit=self.per_host, interval=delay)
            if delay > 0:  # the request that opened it is the first of the spacing
                self.per_key.defer(host, delay)

    def _delay_of(self, host: str) -> float:
        delay = self._delay.get(host)
        if delay is None:
            own = self.crawl_delay(host) if self.crawl_delay else None
            delay = self._delay[host] = self._floor[host] = max(self.delay, own or 0.0)
        return delay

    def delay_of(self, host: str) -> float:
        """Seconds between two requests to ``host`` now."""
        with self._lock:
            return self._delay_of(host)

    def observe(self, host: str, latency: float, ok: bool) -> None:
        """A response from ``host`` took ``latency`` s (``ok``: no error, status < 400)."""
        if not self.auto_throttle:
            return
        with self._lock:
            old = self._delay_of(host)
            target = latency / self.target_concurrency
            new = (old + target) / 2
            if not ok and new < old:
                new = old
            new = self._delay[host] = min(max(new, self._floor[host]), MAX_AUTO_DELAY)
        if self.per_key is not None and new != old:
            self.per_key.set(host, interval=new)

    def hold_off(self, host: str, seconds: float) -> None:
        """No request to ``host`` for ``seconds`` from now (a 429 or 503's Retry-After)."""
        if self.per_key is not None:
            self.per_key.defer(host, seconds)
