"""Prometheus metrics under gunicorn: every worker's numbers, served only on the master's
own loopback address, never through the portal's public port."""

from __future__ import annotations

import json

import pytest
import requests

from portal.devstack.serving import free_port
from tests.support.gunicorn_server import gunicorn_server
from tests.test_settings import GOOD
from tests.test_webhooks import event, sign

WEBHOOK_SECRET = GOOD["PORTAL_STRIPE_WEBHOOK_SECRET"]


@pytest.fixture(scope="module")
def served():
    metrics_port = free_port()
    env = {**GOOD, "PORTAL_METRICS_BIND": f"127.0.0.1:{metrics_port}"}
    with gunicorn_server(env, "--workers", "2") as url:
        yield url, f"http://127.0.0.1:{metrics_port}/metrics"


def test_metrics_count_what_every_worker_served(served):
    url, metrics = served
    for n in range(6):
        payload = event(id=f"cs_test_metrics{n:04d}abcdefgh")
        body = json.loads(payload)
        body["id"] = f"evt_metrics_{n}"
        payload = json.dumps(body).encode()
        headers = {"Stripe-Signature": sign(payload, WEBHOOK_SECRET)}
        assert requests.post(f"{url}/webhooks/stripe", data=payload, headers=headers).ok
    requests.post(f"{url}/webhooks/stripe", data=b"{}", headers={"Stripe-Signature": "x"})
    text = requests.get(metrics, timeout=5).text
    assert 'portal_webhooks_total{outcome="invalidated"} 6.0' in text
    assert 'portal_webhooks_total{outcome="refused"} 1.0' in text
    assert 'portal_request_seconds_count{endpoint="webhooks.stripe_webhook"} 7.0' in text
    assert "portal_stripe_breaker_open" in text


def test_metrics_are_not_on_the_public_port(served):
    url, _metrics = served
    assert requests.get(f"{url}/metrics", timeout=5).status_code == 404
