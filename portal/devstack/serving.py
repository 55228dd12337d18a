"""Serving a WSGI app on a background thread, for the local stack and tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Running:
    """A server running on a thread."""

    url: str
    port: int
    server: BaseWSGIServer


@contextmanager
def run_in_thread(app: Any, host: str = "127.0.0.1", port: int = 0) -> Iterator[Running]:
    """Serve ``app`` (threaded) until the block ends."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.daemon = True
    thread.start()
    try:
        yield Running(
            url=f"http://{host}:{server.server_port}", port=server.server_port, server=server
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
