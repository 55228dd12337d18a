"""The portal under a real gunicorn with ``config/gunicorn.conf.py``, for tests of what
only exists there (worker processes, the master's hooks, the metrics server)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from portal.devstack.serving import free_port

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def gunicorn_server(env: Mapping[str, str], *args: str) -> Iterator[str]:
    """Start gunicorn on a free loopback port with ``env`` as the PORTAL_* settings;
    yield its base URL once ``/healthz`` answers."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "config/gunicorn.conf.py"),
            "--chdir",
            str(ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            *args,
            "wsgi:app",
        ],
        env={**clean, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {process.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()
