"""Task functions the lab runs in threads, processes and sub-interpreters.

They live at module level so that worker processes can unpickle them by name.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time

_BUFFERS: dict[int, bytes] = {}  # one buffer per size and per process, made once


def spin(loops: int) -> int:
    """Pure-Python CPU work that holds the GIL the whole time: integer arithmetic in a loop."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


def buffer(size: int) -> bytes:
    """A buffer of ``size`` bytes, made once per process so that tasks only pay for hashing."""
    data = _BUFFERS.get(size)
    if data is None:
        data = _BUFFERS[size] = os.urandom(size)
    return data


def hash_buffer(task: tuple[int, int]) -> str:
    """C work that releases the GIL: sha256 over a large buffer, ``rounds`` times."""
    size, rounds = task
    data = buffer(size)
    digest = b""
    for _ in range(rounds):
        digest = hashlib.sha256(data).digest()
    return digest.hex()


def fetch(address: tuple[str, int]) -> int:
    """I/O-bound work: one request to the lab's slow local server; returns bytes read."""
    received = 0
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(b"GET\n")
        while chunk := sock.recv(65536):
            received += len(chunk)
    return received


def identity(x: object) -> object:
    """Does nothing, so that timing it measures only the cost of getting a task there and back."""
    return x


def size_of(data: bytes) -> int:
    """Receives a large argument and returns only its size: the cost is the copy to the worker."""
    return len(data)


def pid_after(seconds: float) -> int:
    """Sleeps, then says which process ran it: used to make every pool worker start."""
    time.sleep(seconds)
    return os.getpid()


def pid(_: object = None) -> int:
    return os.getpid()
