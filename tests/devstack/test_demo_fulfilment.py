"""``portal demo``'s fulfilment loop: a product that fails, the buyer told, the staff alerted."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import boto3
import pytest
import requests

from portal.cache_store import make_backend
from portal.devstack.demo import BUCKET, DemoStack, demo_stack
from portal.fulfilment.commands import watch_once
from portal.fulfilment.wiring import make_alerts
from portal.order_refs import order_id_of
from tests.devstack.test_demo import _login, _wait_for


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(0, fulfilment_delay=0.5) as running:
        yield running


def _buy(stack: DemoStack, email: str, link: str) -> tuple[requests.Session, str, str, str]:
    """Buy through one of the demo's links: the browser, the order page, the session id
    and the OrderID the shop's files go under."""
    browser, _ = _login(stack, email)
    checkout = browser.get(f"{stack.portal_url}/buy/{link}", timeout=10)
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', checkout.text))
    landed = browser.post(checkout.url, data={**hidden, "payment_method": "card"}, timeout=10)
    session_id = landed.url.rsplit("/", 1)[-1]
    reference = stack.emulator.sessions[session_id]["client_reference_id"]
    return browser, landed.url, session_id, order_id_of(reference)


def test_the_failing_product_shows_delayed_and_the_watch_alerts_once(stack):
    browser, url, session_id, _order_id = _buy(stack, "hanako@example.jp", "filmscan")
    page = _wait_for(
        lambda: (p := browser.get(url, timeout=10)) and "taking longer" in p.text and p
    )
    assert "The shop has been notified" in page.text
    assert 'href="mailto:support@shizuku.example.jp?subject=' in page.text
    alerts = make_alerts(stack.settings, make_backend(stack.settings.cache_url))

    def told() -> bool:
        # Our run or the demo's own one in the background (which then holds the lock).
        watch_once(stack.settings, alerts, days=2)
        if any(session_id in text for text in stack.alerts.messages):
            return True
        time.sleep(1)  # a run lists every order of the last days: not in a tight loop
        return False

    # The emulator stamps objects a second or two ahead when many are made at once, so
    # the first run may not list the order yet (`created[lte]` is now): wait until told.
    _wait_for(told, seconds=45)
    _wait_for(lambda: watch_once(stack.settings, alerts, days=2) is not None)  # once more
    about_it = [text for text in stack.alerts.messages if session_id in text]
    assert len(about_it) == 1
    assert any("JP-1007" in text for text in stack.alerts.messages)


def test_other_products_get_their_file_and_a_done_status(stack):
    browser, url, _session_id, order_id = _buy(stack, "john@example.com", "restoration")
    _wait_for(lambda: "result.txt" in browser.get(url, timeout=10).text)
    s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")

    def state() -> str:
        folder = stack.settings.s3_prefix.format(order_id=order_id)
        body = s3.get_object(Bucket=BUCKET, Key=f"{folder}_status.json")["Body"].read()
        return str(json.loads(body)["state"])

    assert _wait_for(lambda: state() == "done")
