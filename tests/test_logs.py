"""Log lines under gunicorn and the development server alike: the audit trail as JSON lines
on stderr, and access-log lines that a request cannot forge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from portal.devstack.serving import free_port
from portal.stripe_budget import ENVIRON_KEY, access_log_field
from tests.support.stripe_fixtures import checkout_session
from tests.test_settings import GOOD

ROOT = Path(__file__).resolve().parent.parent
REQUEST_ID = "req-log-test-00001"
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py"]
#: A path that, decoded and written as it came, would start a forged access-log line.
FORGING_PATH = "/x%0d%0a127.0.0.1%20%22GET%20/admin%22%20200%20-%201ms%1b%5b31m"
ALICE = "alice@example.com"


@contextmanager
def serve(args: list[str], **settings: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``args`` (``{port}`` filled in) with the test settings until it answers."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_") and k != "PORT"}
    env = {
        **clean,
        **GOOD,
        "PORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    process = subprocess.Popen(
        [part.replace("{port}", str(port)) for part in args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {process.communicate()[1][-2000:]}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _exercise_and_stop(url: str, process: subprocess.Popen[str]) -> tuple[str, str]:
    """A forged webhook (an audit line) and a forging path; then stop, returning the output."""
    refused = requests.post(
        f"{url}/webhooks/stripe",
        data=b"{}",
        headers={"Stripe-Signature": "t=1,v1=00", "X-Request-Id": REQUEST_ID},
        timeout=10,
    )
    assert refused.status_code == 400
    assert requests.get(url + FORGING_PATH, timeout=10).status_code == 404
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    return out, err


def _audit_lines(stderr: str) -> list[dict]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "portal.audit"]


@pytest.fixture(scope="module")
def gunicorn_output() -> tuple[str, str]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "config/gunicorn.conf.py",
        "--bind",
        "127.0.0.1:{port}",
        "--workers",
        "2",
        "wsgi:app",
    ]
    with serve(command) as (url, process):
        return _exercise_and_stop(url, process)


def test_under_gunicorn_the_audit_trail_is_json_lines_on_stderr(gunicorn_output):
    _, stderr = gunicorn_output
    (line,) = [entry for entry in _audit_lines(stderr) if entry["request_id"] == REQUEST_ID]
    assert line["event"] == "webhook_refused" and line["ip"] == "127.0.0.1"
    assert line["level"] == "INFO" and line["time"].endswith("+00:00")


def test_under_gunicorn_a_request_cannot_forge_an_access_log_line(gunicorn_output):
    stdout, _ = gunicorn_output
    lines = stdout.splitlines()
    (forging,) = [line for line in lines if "/x" in line]
    assert "\\r\\n127.0.0.1" in forging and "\\u001b" in forging
    assert "\x1b" not in stdout
    assert not any(line.startswith('127.0.0.1 "GET /admin"') for line in lines)


def test_under_gunicorn_each_access_line_says_stripe_and_the_request_id(gunicorn_output):
    stdout, _ = gunicorn_output
    (webhook,) = [line for line in stdout.splitlines() if "/webhooks/stripe" in line]
    assert webhook.startswith('127.0.0.1 "POST /webhooks/stripe" 400 ')
    assert webhook.endswith(f"ms stripe=0 id={REQUEST_ID}")


def test_the_development_server_writes_the_same_json_lines():
    command = [sys.executable, "-m", "portal.cli", "serve", "--port", "{port}"]
    with serve(command) as (url, process):
        _, stderr = _exercise_and_stop(url, process)
    (line,) = [entry for entry in _audit_lines(stderr) if entry["request_id"] == REQUEST_ID]
    assert line["event"] == "webhook_refused"


def _environ_as_the_server_sees_it(app: Flask) -> dict[str, Any]:
    """The environ after the app answered, which is when gunicorn writes its access line."""
    seen: dict[str, Any] = {}
    inner = app.wsgi_app

    def capture(environ: dict[str, Any], start_response: Any) -> Any:
        answer = inner(environ, start_response)
        seen.clear()
        seen.update(environ)
        return answer

    app.wsgi_app = capture  # type: ignore[method-assign]
    return seen


def test_the_access_log_field_says_what_a_view_spent_at_stripe(app, client, logged_in, stripe_api):
    environ = _environ_as_the_server_sees_it(app)
    stripe_api.add(checkout_session(ALICE, reference="KEN-1"))
    stripe_api.delay_seconds = 0.05
    assert client.get("/orders").status_code == 200
    attempts, _, ms = environ[ENVIRON_KEY].partition("/")
    assert int(attempts) == stripe_api.call_count >= 1
    assert int(ms.removesuffix("ms")) >= 50 * stripe_api.call_count

    assert client.get("/orders").status_code == 200
    assert environ[ENVIRON_KEY] == "0"


def test_a_request_that_never_asks_stripe_logs_zero():
    assert access_log_field(0, 0.0) == "0"
    assert access_log_field(2, 2.0344) == "2/2034ms"
