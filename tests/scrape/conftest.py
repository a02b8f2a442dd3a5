"""Scrape tests need the scrape extra (pycurl, selectolax, protego)."""

from __future__ import annotations

import pytest

pytest.importorskip("pycurl")
pytest.importorskip("selectolax")
pytest.importorskip("protego")
