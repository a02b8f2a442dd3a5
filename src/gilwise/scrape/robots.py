"""robots.txt, fetched once per host and cached (parsed with protego): may a URL be
fetched, and the host's Crawl-delay."""

from __future__ import annotations

import threading

from protego import Protego

from gilwise.scrape.client import FetchSettings, fetch


class RobotsCache:
    """One robots.txt per host, fetched by the first thread that needs it (the others of
    that host wait for it). A missing or unreadable robots.txt allows everything."""

    def __init__(self, settings: FetchSettings) -> None:
        # robots.txt itself: no retries beyond one, a small size
        self.settings: FetchSettings = FetchSettings(
            timeout=settings.timeout, max_bytes=500_000, retries=1, backoff=settings.backoff,
            user_agent=settings.user_agent)
        self.user_agent: str = settings.user_agent
        self._lock = threading.Lock()
        self._hosts: dict[str, tuple[threading.Lock, list[Protego | None]]] = {}

    def rules(self, host: str) -> Protego | None:
        """The parsed robots.txt of ``host`` (``scheme://host[:port]``), None if there is none."""
        with self._lock:
            lock, slot = self._hosts.setdefault(host, (threading.Lock(), []))
        with lock:
            if not slot:
                slot.append(self._load(host))
        return slot[0]

    def _load(self, host: str) -> Protego | None:
        response = fetch(f"{host}/robots.txt", self.settings)
        if response.error or response.status != 200:
            return None
        return Protego.parse(response.body.decode("utf-8", "replace"))

    def allowed(self, url: str, host: str) -> bool:
        rules = self.rules(host)
        return rules is None or rules.can_fetch(url, self.user_agent)

    def crawl_delay(self, host: str) -> float | None:
        rules = self.rules(host)
        delay = rules.crawl_delay(self.user_agent) if rules is not None else None
        return float(delay) if delay is not None else None
