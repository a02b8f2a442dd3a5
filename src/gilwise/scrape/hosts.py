"""Per-host pacing shared by the fetching threads: ``--delay``, Crawl-delay, a host's
429/503 Retry-After slowing every request to it (not only the one that got it), and
``--auto-throttle``: the delay adapted to the host's latency, as Scrapy's AutoThrottle."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

MAX_AUTO_DELAY = 60.0  # seconds: auto-throttle never waits longer between two requests


class HostPacer:
    """Requests to one host spaced by its delay; ``hold_off`` pushes its next turn back.

    With ``auto_throttle``, each response moves the host's delay halfway towards
    ``latency / target_concurrency`` (so about that many requests are in flight to it); an
    error or an HTTP error status never lowers it. It stays between the host's floor
    (``delay`` or its Crawl-delay) and MAX_AUTO_DELAY."""

    def __init__(self, delay: float = 0.0,
                 crawl_delay: Callable[[str], float | None] | None = None,
                 auto_throttle: bool = False, target_concurrency: float = 1.0) -> None:
        self.delay = delay
        self.crawl_delay = crawl_delay  # a host's own delay (robots.txt), asked once per host
        self.auto_throttle, self.target_concurrency = auto_throttle, target_concurrency
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # host -> monotonic time its next request may start
        self._floor: dict[str, float] = {}  # host -> max(delay, its Crawl-delay)
        self._delay: dict[str, float] = {}  # host -> its delay now (auto-throttle moves it)

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

    def wait_turn(self, host: str) -> None:
        """Sleep until this host's next request may start, and book the one after it."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            delay = self._delay_of(host)
            if delay > 0 or start > now:
                self._next[host] = start + delay
        if start > now:
            time.sleep(start - now)

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
            self._delay[host] = min(max(new, self._floor[host]), MAX_AUTO_DELAY)

    def hold_off(self, host: str, seconds: float) -> None:
        """No request to ``host`` for ``seconds`` from now (a 429 or 503's Retry-After)."""
        with self._lock:
            self._next[host] = max(self._next.get(host, 0.0), time.monotonic() + seconds)
