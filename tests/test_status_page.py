"""``gilwise status --serve``: the page, in a real headless Chromium, on a live batch."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request

import pytest

from gilwise.cli.serve import address
from test_status import SLOW_JOB, SRC, settled, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_address_defaults_to_this_machine_only():
    assert address("8000") == ("127.0.0.1", 8000)
    assert address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    with pytest.raises(ValueError, match="--serve 'http': expected \\[HOST:\\]PORT"):
        address("http")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
def test_the_page_shows_a_live_batch_in_a_headless_browser(tmp_path):
    (tmp_path / "job.py").write_text(SLOW_JOB)
    journal = tmp_path / "run.db"
    env = {**os.environ, "PYTHONPATH": SRC}
    job = subprocess.Popen([sys.executable, "job.py", str(journal)], cwd=tmp_path, env=env)
    server = None
    try:
        live = wait_until(lambda: settled(journal))
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from gilwise.cli.main import main; "
             "sys.exit(main(sys.argv[1:]))", "status", str(journal), "--serve", "0"],
            env=env, stderr=subprocess.PIPE, text=True)
        line = server.stderr.readline()
        url = re.search(r"http://\S+/", line).group(0)
        with urllib.request.urlopen(url + "status.json", timeout=30) as response:
            shown = json.load(response)
        assert shown["state"] == "running" and shown["done"] == live["done"]
        dom = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=3000",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=120).stdout
        assert 'class="state running"' in dom
        assert f"{live['done']} done, 4 failed of 40" in dom
        assert re.search(r'<polyline id="line"[^>]* points="[\d.]+,[\d.]+ ', dom)
        assert re.search(r"<tbody id=\"running\"><tr><td>5</td><td>\d+</td>", dom)
        assert "<td>ValueError</td><td>4</td><td>item 3: bad item 3</td>" in dom
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
