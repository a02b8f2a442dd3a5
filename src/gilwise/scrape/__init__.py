"""``gilwise scrape``: fetch many URLs on threads (libcurl releases the GIL for the whole
transfer), politely (robots.txt, a per-host limit through ``gilwise.map``'s ``per_key``,
per-host delays), one record per input URL, resumable with the engine's journal.

    from gilwise.scrape import scrape
    for record in scrape(["https://example.org/"], fields=["h1=h1::text"]):
        print(record["url"], record["status"], record["title"], record["error"])
"""

from __future__ import annotations

from typing import Any

__all__ = ["FetchSettings", "FieldError", "InvalidURL", "Records", "Response", "Writer",
           "fetch", "scrape"]
INSTALL_HINT = "gilwise scrape needs its extra: pip install 'gilwise[scrape]'"


def __getattr__(name: str) -> Any:
    """The scraper's names, imported on first use: ``gilwise --help`` and ``gilwise map`` work
    without the scrape extra (pycurl, selectolax, protego) installed."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        from gilwise.scrape import scraper
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT} ({exc})") from None
    # the submodule gilwise.scrape.client, once imported, is this package's `fetch`; the
    # public names are the scraper's
    globals().update({public: getattr(scraper, public) for public in __all__})
    return globals()[name]
