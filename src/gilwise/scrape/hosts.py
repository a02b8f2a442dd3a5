"""Per-host pacing shared by the fetching threads: ``--delay``, Crawl-delay, and a host's
429/503 Retry-After slowing every request to it, not only the one that got it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class HostPacer:
    """Requests to one host spaced by its delay; ``hold_off`` pushes its next turn back."""

    def __init__(self, delay: float = 0.0,
                 crawl_delay: Callable[[str], float | None] | None = None) -> None:
        self.delay = delay
        self.crawl_delay = crawl_delay  # a host's own delay (robots.txt), asked once per host
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}  # host -> monotonic time its next request may start
        self._delay: dict[str, float] = {}  # host -> its own delay (Crawl-delay), if longer

    def wait_turn(self, host: str) -> None:
        """Sleep until this host's next request may start, and book the one after it."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next.get(host, 0.0))
            delay = self._delay.get(host)
            if delay is None:
                own = self.crawl_delay(host) if self.crawl_delay else None
                delay = self._delay[host] = max(self.delay, own or 0.0)
            if delay > 0 or start > now:
                self._next[host] = start + delay
        if start > now:
            time.sleep(start - now)

    def hold_off(self, host: str, seconds: float) -> None:
        """No request to ``host`` for ``seconds`` from now (a 429 or 503's Retry-After)."""
        with self._lock:
            self._next[host] = max(self._next.get(host, 0.0), time.monotonic() + seconds)
