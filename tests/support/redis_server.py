"""A real ``redis-server`` on a free loopback port, for the shared-cache tests.

:class:`RedisProcess` can also fail the way a production Redis does: hang (SIGSTOP, as a
stalled host or a long fork does), resume, be killed (SIGKILL) and start again on the same
port from its append-only file.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from portal.devstack.serving import free_port
from tests.support.tls_proxy import Certificate


class RedisProcess:
    """One redis-server on a fixed port; ``appendonly`` keeps its data across a restart."""

    def __init__(
        self,
        workdir: Path,
        *,
        appendonly: bool = False,
        replica_of: int | None = None,
        tls: Certificate | None = None,
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        port = free_port()
        self.port = port
        workdir.mkdir(parents=True, exist_ok=True)
        # With ``tls``, TLS only on the port, as a managed Redis serves it.
        self._command = [
            binary,
            "--port",
            "0" if tls else str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if appendonly else "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
            # A replica's first sync starts at once, not after Redis's default 5 s wait.
            "--repl-diskless-sync-delay",
            "0",
            *(["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []),
        ]
        self.url = f"redis://127.0.0.1:{port}/0"
        if tls is not None:
            self._command += ["--tls-port", str(port), "--tls-auth-clients", "no"]
            self._command += ["--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key)]
            self._command += ["--tls-ca-cert-file", str(tls.ca)]
            self.url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={tls.ca}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers."""
        self._process = subprocess.Popen(
            self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except (redis.ConnectionError, redis.BusyLoadingError):
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def hang(self) -> None:
        """Stop answering without closing connections (SIGSTOP)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """Die at once, as on a crash (SIGKILL): nothing gets a chance to be saved."""
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._signal(signal.SIGCONT)
        # Redis drops a SIGTERM that comes while it writes its first AOF (right after a
        # replica's sync): ask again until it goes, then no longer ask.
        for _ in range(50):
            self._process.terminate()
            try:
                self._process.wait(timeout=0.2)
                return
            except subprocess.TimeoutExpired:
                continue
        self.kill()

    def _signal(self, number: signal.Signals) -> None:
        assert self._process is not None
        self._process.send_signal(number)


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """Start redis-server (installed by ``make test``: tests/system-packages)."""
    server = RedisProcess(workdir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
