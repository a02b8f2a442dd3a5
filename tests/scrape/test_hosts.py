"""Per-host pacing rules (no network): auto-throttle's delay follows latency, never drops
on errors, and stays between the host's floor and the cap."""

from __future__ import annotations

import pytest

from gilwise.scrape.hosts import MAX_AUTO_DELAY, HostPacer


def test_auto_throttle_moves_the_delay_halfway_to_the_latency():
    pacer = HostPacer(auto_throttle=True)
    for expected in (0.1, 0.15, 0.175):
        pacer.observe("h", 0.2, ok=True)
        assert pacer.delay_of("h") == pytest.approx(expected)
    pacer.observe("h", 0.0, ok=True)
    assert pacer.delay_of("h") == pytest.approx(0.0875)


def test_auto_throttle_never_lowers_the_delay_on_an_error():
    pacer = HostPacer(auto_throttle=True)
    pacer.observe("h", 1.0, ok=True)
    pacer.observe("h", 0.01, ok=False)
    assert pacer.delay_of("h") == pytest.approx(0.5)
    pacer.observe("h", 3.0, ok=False)  # an error that took long raises it
    assert pacer.delay_of("h") == pytest.approx(1.75)


def test_auto_throttle_stays_between_the_floor_and_the_cap():
    pacer = HostPacer(delay=0.3, crawl_delay=lambda host: 0.5 if host == "slow" else None,
                      auto_throttle=True)
    pacer.observe("fast", 0.0, ok=True)
    pacer.observe("slow", 0.0, ok=True)
    assert (pacer.delay_of("fast"), pacer.delay_of("slow")) == (0.3, 0.5)
    for _ in range(20):
        pacer.observe("fast", 1000.0, ok=True)
    assert pacer.delay_of("fast") == MAX_AUTO_DELAY


def test_without_auto_throttle_latency_changes_nothing():
    pacer = HostPacer(delay=0.2)
    pacer.observe("h", 5.0, ok=True)
    assert pacer.delay_of("h") == 0.2


def test_the_pacer_tells_the_maps_gate_each_hosts_slots_delay_and_retry_after():
    from fake_backend import FakeClock
    from gilwise import PerKey

    per_key = PerKey(str, 8, clock=FakeClock())
    pacer = HostPacer(0.1, crawl_delay=lambda host: 0.5, auto_throttle=True,
                      per_key=per_key, per_host=4)
    pacer.first_sight("h")
    assert per_key.limit_of("h") == 1  # one at a time until its robots.txt is read
    pacer.opened("h")
    assert (per_key.limit_of("h"), per_key.interval_of("h")) == (4, 0.5)
    pacer.observe("h", 2.0, ok=True)
    assert per_key.interval_of("h") == pytest.approx(1.25)
    pacer.hold_off("h", 30.0)
    assert per_key.not_before("h") == pytest.approx(per_key.clock() + 30.0)


@pytest.mark.parametrize("value, seconds", [
    ("3", 3.0), ("100000", 120.0), (None, None), ("soon", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
])
def test_retry_after_reads_seconds_or_an_http_date(value, seconds):
    from gilwise.scrape.client import retry_after

    assert retry_after(value) == seconds


def test_retry_after_as_a_future_date_is_the_seconds_until_then():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from gilwise.scrape.client import retry_after

    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after(when) <= 30
