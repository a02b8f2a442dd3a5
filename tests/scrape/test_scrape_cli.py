"""``gilwise scrape`` as a user runs it: a real subprocess, a real server, real files."""

from __future__ import annotations

import ast
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from _site import Site, wait_until


def gilwise(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gilwise", "scrape", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def urls_file(tmp_path: Path, urls: list[str]) -> str:
    path = tmp_path / "urls.txt"
    path.write_text("# pages\n\n" + "\n".join(urls) + "\n")
    return str(path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def lines_in(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def journalled(path: Path) -> set[str]:
    """The URLs a journal has committed so far (its keys are their reprs), read beside the
    run writing it."""
    if not path.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {ast.literal_eval(key) for (key,) in db.execute("SELECT key FROM items")}
    except sqlite3.Error:  # not yet made, or busy: nothing to count yet
        return set()


def test_jsonl_output_has_one_record_per_url_and_a_summary(tmp_path):
    with Site() as site:
        urls = [f"{site.base}/page/{i}" for i in range(5)] + [f"{site.base}/missing"]
        code, _, err = finish(gilwise(urls_file(tmp_path, urls), "-o", str(tmp_path / "o.jsonl"),
                                      "--field", "h1=h1::text"))
    records = read_jsonl(tmp_path / "o.jsonl")
    assert code == 1  # a page failed (404)
    assert sorted(r["url"] for r in records) == sorted(urls)
    assert {r["h1"] for r in records} == {f"Heading {i}" for i in range(5)} | {None}
    assert "6 pages: 6 fetched" in err and "errors: http-4xx 1" in err


def test_csv_output_has_a_header_and_the_fields(tmp_path):
    with Site() as site:
        url = f"{site.base}/page/2"
        code, _, _ = finish(gilwise(url, "-o", str(tmp_path / "o.csv"),
                                    "--field", "img=img.main::attr(src)"))
    assert code == 0
    with open(tmp_path / "o.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["url"] == url and rows[0]["title"] == "Page 2"
    assert rows[0]["img"] == "/img/2.png"
    assert rows[0]["links"] == f"{site.base}/page/3 {site.base}/page/0 https://other.example/x"
    assert list(rows[0])[:3] == ["url", "final_url", "status"]


def test_stdin_input_and_bad_urls(tmp_path):
    proc = gilwise("-", "-o", "-", stdin=subprocess.PIPE)
    out, err = proc.communicate("not a url\nftp://x.org/\n", timeout=60)
    errors = [json.loads(line)["error"] for line in out.splitlines()]
    assert proc.returncode == 1
    assert errors == ["invalid URL 'not a url': not an absolute http(s) URL",
                      "invalid URL 'ftp://x.org/': scheme 'ftp' is not http or https"]
    # one kind of error, one entry in the summary, whatever each message says
    assert "errors: invalid-url 2\n" in err and "2 pages: 0 fetched" in err


@pytest.mark.parametrize("args, message", [
    (["--field", "oops"], "--field 'oops' must be NAME=SELECTOR"),
    (["--field", "x=a[[["], "--field 'x=a[[[': invalid CSS selector"),
    (["--include", "["], "argument --include: '[' is not a valid regular expression"),
    (["--exclude", "a)"], "argument --exclude: 'a)' is not a valid regular expression"),
    (["no-such-file.txt"], "cannot read 'no-such-file.txt'"),
])
def test_bad_arguments_are_a_one_line_usage_error(args, message):
    code, _, err = finish(gilwise("http://127.0.0.1:9/", *args))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_killed_run_resumes_fetching_only_what_is_missing(tmp_path):
    out = tmp_path / "o.jsonl"
    with Site(page_delay=0.05) as site:
        urls = [f"{site.base}/page/{i}" for i in range(40)]
        args = [urls_file(tmp_path, urls), "-o", str(out), "--journal", str(tmp_path / "j.db"),
                "--per-host", "1", "--workers", "2"]
        first = gilwise(*args)
        wait_until(lambda: lines_in(out) >= 12, what="12 records written")
        done_before = {r["url"] for r in read_jsonl(out)}
        # the journal commits at least every half second: wait until it holds them all
        wait_until(lambda: journalled(tmp_path / "j.db") >= done_before,
                   what="the journal to commit the records written")
        first.send_signal(signal.SIGKILL)
        first.wait()
        fetched_first = len([p for p in site.paths() if p.startswith("/page/")])
        assert fetched_first < 40
        seen = len(site.paths())
        code, _, _ = finish(gilwise(*args))
        again = [site.base + p for p in site.paths()[seen:] if p.startswith("/page/")]
    assert code == 0
    assert not done_before & set(again)
    assert len(again) <= 40 - len(done_before)
    assert sorted(r["url"] for r in read_jsonl(out)) == sorted(urls)


@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child")
def test_ctrl_c_leaves_a_valid_output_and_exits_130(tmp_path):
    out = tmp_path / "o.jsonl"
    with Site(page_delay=0.05) as site:
        urls = [f"{site.base}/page/{i}" for i in range(200)]
        proc = gilwise(urls_file(tmp_path, urls), "-o", str(out), "--per-host", "1")
        wait_until(lambda: lines_in(out) >= 3, what="3 records written")
        proc.send_signal(signal.SIGINT)
        code, _, err = finish(proc)
    records = read_jsonl(out)  # every line a whole record
    assert code == 130 and 3 <= len(records) < 200
    assert "interrupted after" in err


def test_a_crawl_run_again_with_its_journal_fetches_nothing_and_writes_every_record(tmp_path):
    out = tmp_path / "site.jsonl"
    with Site() as site:
        args = [f"{site.base}/page/0", "--crawl", "--depth", "3", "-o", str(out), "--journal",
                str(tmp_path / "site.db")]
        code, _, err = finish(gilwise(*args))
        assert code == 0 and "4 pages: 4 fetched" in err and "journal" not in err
        first = sorted(r["url"] for r in read_jsonl(out))
        seen = len(site.paths())
        code, _, err = finish(gilwise(*args))
        assert code == 0
        again = [p for p in site.paths()[seen:] if p.startswith("/page/")]
    assert first == [f"{site.base}/page/{n}" for n in range(4)]
    assert sorted(r["url"] for r in read_jsonl(out)) == first and again == []
    # the pages the journal gave back are not reported as fetched, nor counted in a rate
    assert err.startswith("4 pages: 0 fetched in ") and ", 4 from the journal" in err
    assert "(0 pages/s, 0.0 MB)" in err


def test_a_crawl_of_a_docs_tree_skips_files_records_other_pages_and_exits_0(tmp_path):
    out = tmp_path / "docs.jsonl"
    with Site() as site:
        code, _, err = finish(gilwise(f"{site.base}/docs/", "--crawl", "--exclude", "/old/",
                                      "--include", "/docs/", "-o", str(out)))
        asked = site.paths()
    records = {r["url"].removeprefix(site.base): r for r in read_jsonl(out)}
    assert code == 0, err
    assert sorted(records) == ["/docs/", "/docs/a.html", "/docs/data.json"]
    assert not [p for p in asked if p.startswith(("/files/", "/docs/old/", "/page/"))]
    assert (records["/docs/data.json"]["kind"], records["/docs/data.json"]["error"]) == \
        ("not-html", None)
    assert "3 pages: 3 fetched" in err and "1 not HTML" in err and "errors" not in err
