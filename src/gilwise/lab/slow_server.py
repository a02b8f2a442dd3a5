"""A local server on 127.0.0.1 that waits before it answers, like a slow web service:
the I/O-bound experiment's tasks spend their time waiting on its socket.

It runs in its own process, so that it neither competes with threaded clients for this
process's GIL nor leaves a thread behind that would make forking worker processes unsafe.
"""

from __future__ import annotations

import multiprocessing
import socketserver
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection

from gilwise.lab.runners import start_method


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _Server = self.server  # type: ignore[assignment]
        self.request.recv(16)
        time.sleep(server.delay)
        self.request.sendall(server.payload)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients at once must not wait on a full backlog

    def __init__(self, delay: float, payload: bytes) -> None:
        self.delay, self.payload = delay, payload
        super().__init__(("127.0.0.1", 0), _Handler)


def _serve(conn: Connection, delay: float, payload_bytes: int) -> None:
    """In the server process: bind to 127.0.0.1 on a free port, report it, serve forever."""
    with _Server(delay, b"x" * payload_bytes) as server:
        conn.send(server.server_address[:2])
        conn.close()
        server.serve_forever(poll_interval=0.05)


@contextmanager
def slow_server(delay: float, payload_bytes: int = 16_384) -> Iterator[tuple[str, int]]:
    """Serves on 127.0.0.1 only while the block runs; yields the (host, port) to connect to."""
    context = multiprocessing.get_context(start_method())
    ours, theirs = context.Pipe(duplex=False)
    process = context.Process(target=_serve, args=(theirs, delay, payload_bytes),
                              name="gilwise-lab-server", daemon=True)
    process.start()
    theirs.close()
    try:
        if not ours.poll(30):
            raise RuntimeError("the local test server did not start within 30 s")
        yield ours.recv()
    finally:
        ours.close()
        process.terminate()
        process.join(5)
