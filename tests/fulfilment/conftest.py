"""Fixtures of the fulfilment tests: the shop's Slack-compatible webhook, for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.devstack.alert_sink import AlertSink
from portal.devstack.serving import run_in_thread
from tests.support.deliveries import BUCKET, ORDER_ID_KEY
from tests.test_settings import GOOD


@pytest.fixture(scope="module")
def sink() -> Iterator[tuple[AlertSink, str]]:
    """The Slack-compatible webhook, a real HTTP server on loopback."""
    receiver = AlertSink()
    with run_in_thread(receiver.app()) as running:
        yield receiver, f"{running.url}/hooks/alerts"


@pytest.fixture
def messages(sink) -> list[str]:  # type: ignore[no-untyped-def]
    receiver, _url = sink
    receiver.messages.clear()
    receiver.failing_with = None
    return receiver.messages


@pytest.fixture
def environment(monkeypatch, tmp_path, s3, stripe_api):  # type: ignore[no-untyped-def]
    """The PORTAL_* settings of a host that runs the commands, with a shared file cache."""
    shop = {**GOOD, "PORTAL_S3_BUCKET": BUCKET, "PORTAL_ORDER_ID_KEY": ORDER_ID_KEY.decode()}
    for name, value in shop.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTAL_CACHE_URL", f"file://{tmp_path}/cache")
    monkeypatch.chdir(tmp_path)  # no .env here
    return monkeypatch
