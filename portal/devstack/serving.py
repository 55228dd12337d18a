"""Serving a WSGI app on a background thread, for the local stack and tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from werkzeug.serving import BaseWSGIServer, make_server

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: How often the serving loop checks for shutdown: stopping takes up to this long, and
#: tests stop a few servers each.
POLL_SECONDS = 0.02


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the OS picks it), for a URL needed before the
    server starts (the emulator's ``public_url``, the portal's own URL)."""
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
def run_in_thread(
    app: WSGIApplication, host: str = "127.0.0.1", port: int = 0
) -> Iterator[Running]:
    """Serve ``app`` until the block ends (``port=0``: any free port).

    One thread per request, as in production, so an app can call back into a server
    started here (the emulator's webhook reaches the portal, which calls the emulator).
    """
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield Running(f"http://{host}:{server.server_port}", server.server_port, server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
