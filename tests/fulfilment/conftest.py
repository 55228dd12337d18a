"""Fixtures of the fulfilment tests: the shop's Slack-compatible webhook, for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.devstack.alert_sink import AlertSink
from portal.devstack.serving import run_in_thread


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
