"""Where gunicorn listens (F18): loopback by default, and a warning when X-Forwarded-For is
believed on an address clients could reach directly."""

from __future__ import annotations

import os
import runpy
import signal

import pytest

from portal.startup import proxy_warning, worker_class_problem
from tests.test_logs import GUNICORN, ROOT, serve

EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (what the warning is about)


@pytest.mark.parametrize(
    ("addresses", "trusted"),
    [
        ([("127.0.0.1", 8000)], 1),
        ([("::1", 8000), ("localhost", 8001)], 2),
        (["/run/portal.sock"], 1),
        ([(EVERY_INTERFACE, 8000)], 0),
    ],
)
def test_no_warning_on_loopback_sockets_or_without_trusted_proxies(addresses, trusted):
    assert proxy_warning(addresses, trusted) is None


@pytest.mark.parametrize("host", [EVERY_INTERFACE, "::", "192.0.2.10"])
def test_trusting_proxies_on_a_public_address_is_warned_about(host):
    warning = proxy_warning([(host, 8000)], 1)
    assert warning and f"{host}:8000" in warning and "X-Forwarded-For" in warning


def test_gunicorn_listens_on_loopback_by_default(monkeypatch, tmp_path):
    # The config sets environment variables for gunicorn's process: keep them out of ours.
    monkeypatch.setattr(os, "environ", {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    config = runpy.run_path(str(ROOT / "config" / "gunicorn.conf.py"))
    assert config["bind"].startswith("127.0.0.1:")


def test_gunicorn_on_a_public_address_with_trusted_proxies_warns_at_start():
    command = [*GUNICORN, "--bind", EVERY_INTERFACE + ":{port}", "--workers", "1", "wsgi:app"]
    with serve(command, PORTAL_TRUSTED_PROXIES="1") as (_, process):
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert "PORTAL_TRUSTED_PROXIES=1: a client that reaches this port directly" in stderr


@pytest.mark.parametrize(
    "worker_class", ["gevent", "eventlet", "gunicorn.workers.ggevent.GeventWorker"]
)
def test_a_bare_greenlet_worker_switch_is_refused_with_one_line(worker_class):
    """Measured (bench --sizing): preloaded without patching first, a gevent worker hangs."""
    problem = worker_class_problem(worker_class, threading_patched=False)
    assert problem and worker_class in problem and "patch_all" in problem and "\n" not in problem


@pytest.mark.parametrize(
    ("worker_class", "patched"), [("gthread", False), ("sync", False), ("gevent", True)]
)
def test_threads_and_a_patched_gevent_start(worker_class, patched):
    assert worker_class_problem(worker_class, threading_patched=patched) is None
