"""Finished pages kept for later duplicates: on disk, not in memory."""

from __future__ import annotations

import tracemalloc

from gilwise.scrape.records import FinishedPages


def record(i: int) -> dict:
    links = [f"http://example.org/a/rather/long/path/to/page/{i}/{k}.html" for k in range(40)]
    return {"url": f"http://example.org/{i}", "title": f"Page {i}", "links": links,
            "error": None, "status": 200}


def test_a_finished_page_comes_back_as_it_was_added():
    pages = FinishedPages()
    try:
        for i in range(3):
            pages.add(f"u{i}", record(i))
        assert "u1" in pages and "u9" not in pages
        assert pages.get("u1") == record(1)
        pages.add("u3", record(3))  # writes after a read go on at the end
        assert [pages.get(f"u{i}") for i in (3, 0)] == [record(3), record(0)]
    finally:
        pages.close()


def test_finished_pages_do_not_stay_in_memory():
    pages = FinishedPages()
    tracemalloc.start()
    try:
        pages.add("first", record(-1))  # opens the file and its buffer
        before = tracemalloc.get_traced_memory()[0]
        for i in range(2000):  # ~5 MB of records
            pages.add(f"http://example.org/{i}", record(i))
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        pages.close()
    assert grown < 600_000  # each URL's key and place, not its record
