"""Slow clients as a benchmark (issue 16): connections that trickle a request's headers
and never finish them, while customers keep using the portal.

Each phase keeps ``count`` such connections open (one header byte per connection per
second; a connection the server closes is opened again at once, as an attacker would)
under the steady load of ``traffic.Traffic``, and records which share of the ordinary
requests (pages, health checks, webhooks) got an answer within ``ANSWER_WITHIN`` seconds.
*Before*: straight at gunicorn, as the README forbids. *After*: through the shipped nginx
site (``config/nginx/order-portal.conf``, run by ``tests/support/tls_proxy.py``), which
waits for a whole request before it hands it to gunicorn.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from stack import ROOT, Server, Stack
from traffic import Answer, Traffic, p50_p99, shoppers

#: Slow connections per phase; 0 is the same load without them.
COUNTS = (0, 16, 64)
#: An ordinary request answered later than this counts as not answered.
ANSWER_WITHIN = 5.0
#: The request every slow connection starts, then extends by one byte a second.
_START = b"GET /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: trickle\r\nX-Trickle: "


@dataclass
class SlowResult:
    front: str
    count: int
    seconds: float
    answers: list[Answer]
    #: How often the server closed a slow connection (which was then opened again).
    closed: int

    def ordinary(self) -> list[Answer]:
        """Every request of the steady load (pages, health checks, webhooks)."""
        return self.answers

    def share_answered(self) -> float:
        answers = self.ordinary()
        quick = [a for a in answers if a.status and a.seconds <= ANSWER_WITHIN]
        return len(quick) / len(answers) if answers else 0.0


class Trickle:
    """``count`` connections that send one byte of an endless header each second."""

    def __init__(self, url: str, count: int, ca: Path | None) -> None:
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._context = ssl.create_default_context(cafile=str(ca)) if ca else None
        self._count = count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.closed = 0

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _open(self) -> socket.socket | None:
        try:
            raw = socket.create_connection(self._address, timeout=5)
            sock = (
                self._context.wrap_socket(raw, server_hostname=self._address[0])
                if self._context
                else raw
            )
            sock.sendall(_START)
            return sock
        except OSError:
            return None

    def _run(self) -> None:
        sockets: list[socket.socket | None] = [self._open() for _ in range(self._count)]
        while not self._stop.wait(1.0):
            for n, sock in enumerate(sockets):
                try:
                    if sock is None:
                        raise OSError("not connected")
                    sock.sendall(b"a")
                except OSError:
                    if sock is not None:
                        self.closed += 1
                        with suppress(OSError):
                            sock.close()
                    sockets[n] = self._open()
        for sock in sockets:
            if sock is not None:
                with suppress(OSError):
                    sock.close()


@contextmanager
def nginx_in_front(stack: Stack, https_port: int, upstream: Server) -> Iterator[Server]:
    """The shipped nginx site on ``https_port`` in front of ``upstream``; requests made by
    this process trust its certificate while it runs."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the runner lives with the tests that use it
    from tests.support.tls_proxy import tls_proxy

    gunicorn_address = upstream.url.removeprefix("http://")
    with tls_proxy(gunicorn_address, stack.workdir / "nginx", https_port=https_port) as proxy:
        os.environ["REQUESTS_CA_BUNDLE"] = str(proxy.ca)
        try:
            yield replace(upstream, name=f"{upstream.name} behind nginx", url=proxy.url)
        finally:
            del os.environ["REQUESTS_CA_BUNDLE"]


def run_phases(
    stack: Stack, fronts: list[tuple[str, Server, Path | None]], seconds: float
) -> list[SlowResult]:
    """For each front (name, server, CA), each count of slow connections in turn."""
    settle = ANSWER_WITHIN + 2
    results = []
    for front, server, ca in fronts:
        # Each request times out just after ANSWER_WITHIN, so that all of a phase's
        # requests are answered or given up by the time its answers are taken.
        traffic = Traffic(stack, server, shoppers(stack, server), timeout=ANSWER_WITHIN + 1)
        try:
            for count in COUNTS:
                print(f"  {front}, {count} slow connections…", flush=True)
                with traffic.running(), Trickle(server.url, count, ca) as trickle:
                    started = time.monotonic()
                    time.sleep(seconds)
                    ended = time.monotonic()
                time.sleep(settle)  # let the requests still open finish (or time out)
                answers, _acknowledged = traffic.take()
                results.append(SlowResult(front, count, ended - started, answers, trickle.closed))
        finally:
            traffic.close()
    return results


def render(results: list[SlowResult], title: str) -> str:
    """Per count of slow connections: before (gunicorn direct) and after (nginx)."""
    fronts = list(dict.fromkeys(r.front for r in results))
    lines = [
        f"### {title}",
        "",
        "| Slow connections | "
        + " | ".join(
            f"{f}: answered within {ANSWER_WITHIN:.0f} s | {f}: p50 / p99 ms | {f}: closed"
            for f in fronts
        )
        + (" | Ratio of shares (last / first) |" if len(fronts) > 1 else " |"),
        "| ---: | "
        + " | ".join("---: | --- | ---:" for _ in fronts)
        + (" | ---: |" if len(fronts) > 1 else " |"),
    ]
    for count in COUNTS:
        row = [r for f in fronts for r in results if (r.front, r.count) == (f, count)]
        cells = [
            f"{r.share_answered():.0%} of {len(r.ordinary())} "
            f"| {p50_p99(r.ordinary())} | {r.closed}"
            for r in row
        ]
        ratio = ""
        if len(row) > 1:
            first, last = row[0].share_answered(), row[-1].share_answered()
            ratio = f" | {last / first:.2f}x" if first else " | -"
        lines.append(f"| {count} | " + " | ".join(cells) + ratio + " |")
    return "\n".join(lines) + "\n"
