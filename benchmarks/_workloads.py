"""Varied workloads for the auto-mode benchmark: each a module-level task function."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
import time
import urllib.request
import zlib

from _work import spin as python_loop  # noqa: F401 - pure-Python CPU work, shared

_rng = random.Random(7)
JSON_TEXT = json.dumps(
    [{"id": i, "name": f"user{i}", "tags": ["a", "b", str(i)], "score": _rng.random()}
     for i in range(6_000)]
)
WORDS = " ".join(_rng.choice(["alpha", "beta", "gamma", "delta", "x1", "y22", "z333"])
                 for _ in range(150_000))
BLOB = bytes(_rng.getrandbits(8) for _ in range(1 << 16)) * 64  # 4 MiB, not too repetitive
SERVER_URL = ""  # set by the benchmark once its local server listens


def json_roundtrip(_: int) -> int:
    return len(json.dumps(json.loads(JSON_TEXT)))


def regex_scan(_: int) -> int:
    return len(re.findall(r"\b[xyz]\d+\b", WORDS))


def increment(x: int) -> int:
    return x + 1


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def http_get(path: str) -> int:
    with urllib.request.urlopen(SERVER_URL + path, timeout=10) as response:
        return len(response.read())


def run_subprocess(_: int) -> int:
    done = subprocess.run([sys.executable, "-c", "sum(range(300000))"], capture_output=True)
    return done.returncode


def sha256(_: int) -> str:
    return hashlib.sha256(BLOB).hexdigest()[:8]


def compress(_: int) -> int:
    return len(zlib.compress(BLOB, 6))


def wait_or_spin(item: tuple[str, float]) -> float:
    """("wait", seconds): sleep; ("spin", loops): pure Python (a batch that changes nature)."""
    kind, amount = item
    if kind == "wait":
        time.sleep(amount)
    else:
        python_loop(int(amount))
    return amount


def set_server(url: str) -> None:
    global SERVER_URL
    SERVER_URL = url


def json_parse(_: int) -> int:
    return len(json.loads(JSON_TEXT))


def compress_2mb(_: int) -> int:
    return len(zlib.compress(BLOB[: 2 << 20], 6))


_MATRIX: list = []


def matmul(_: int) -> float:
    """A NumPy matrix product (NumPy releases the GIL in it); needs NumPy."""
    import numpy

    if not _MATRIX:
        _MATRIX.append(numpy.random.default_rng(7).random((400, 400)))
    m = _MATRIX[0]
    return float((m @ m)[0, 0])
