"""Alerts raised by Stripe's webhooks as they arrive, told once with the watch's."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from cachelib import FileSystemCache

from portal.deliverables import Deliverables
from portal.fulfilment.alerts import Alerts
from portal.fulfilment.dedupe import Once
from portal.fulfilment.delivery import DeliveryReader
from portal.fulfilment.slack import WebhookChannel
from portal.fulfilment.watch import Watch
from portal.order_refs import ReferencePolicy
from portal.stripe.client import make_client
from portal.stripe.queries import StripeOrders
from tests.conftest import BUCKET, with_settings
from tests.fulfilment.shop import ALICE, paid_order, put_file
from tests.support.deliveries import ORDER_ID_KEY, signed
from tests.support.stripe_fixtures import checkout_session, fixture, payment_intent
from tests.test_webhooks import post, sign


@pytest.fixture
def settings(settings, sink, tmp_path):  # type: ignore[no-untyped-def]
    return with_settings(
        settings,
        alert_webhook_url=sink[1],
        cache_url=f"file://{tmp_path}/cache",
    )


def _paid(stripe_api, reference: str) -> dict:
    return paid_order(stripe_api, reference, hours_ago=0.1, disputed=True)


def _event(kind: str, obj: dict) -> bytes:
    body = fixture("event")
    body.update(id=f"evt_{kind.replace('.', '_')}_{obj['id']}", type=kind, data={"object": obj})
    return json.dumps(body).encode()


def test_a_dispute_webhook_alerts_at_once_and_the_watch_does_not_repeat_it(
    client,
    stripe_api,
    s3,
    settings,
    messages,
):
    session = _paid(stripe_api, "DISPUTE-1")
    put_file(s3, "DISPUTE-1")
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": session["payment_intent"]}
    payload = _event("charge.dispute.created", dispute)
    assert post(client, payload, sign(payload)).status_code == 200
    assert len(messages) == 1
    assert "Payment disputed" in messages[0] and "DISPUTE-1" in messages[0]
    assert "search?query=dp_1" in messages[0]
    backend = FileSystemCache(settings.cache_url.removeprefix("file://"))
    watch = Watch(
        StripeOrders(make_client(settings.stripe_secret_key)),
        DeliveryReader(Deliverables(s3, BUCKET, "orders/{order_id}/", 300)),
        ReferencePolicy(ORDER_ID_KEY),
        Alerts(Once(backend), [WebhookChannel(settings.alert_webhook_url)], "en"),
        usual_hours=24,
    )
    report = watch.run(datetime.now(tz=UTC))
    assert report.already == 1 and report.sent == []
    assert len(messages) == 1


def test_a_failed_refund_webhook_alerts(client, stripe_api, settings, messages):
    session = _paid(stripe_api, "REFUND-1")
    refund = {
        "id": "re_9",
        "object": "refund",
        "status": "failed",
        "payment_intent": session["payment_intent"],
    }
    payload = _event("refund.failed", refund)
    assert post(client, payload, sign(payload)).status_code == 200
    assert len(messages) == 1 and "Refund failed" in messages[0]


def test_a_refund_that_did_not_fail_alerts_nobody(client, stripe_api, settings, messages):
    session = _paid(stripe_api, "REFUND-2")
    refund = {"id": "re_8", "object": "refund", "status": "succeeded"}
    refund["payment_intent"] = session["payment_intent"]
    payload = _event("charge.refund.updated", refund)
    assert post(client, payload, sign(payload)).status_code == 200
    assert messages == []


def test_a_lapsed_konbini_payment_alerts(client, stripe_api, settings, messages):
    session = signed(checkout_session(ALICE, reference="KONBINI-9", payment_status="unpaid"))
    intent = payment_intent(status="requires_payment_method", failed=True)
    session.update(payment_intent=intent["id"], _intent=intent)
    stripe_api.add(session)
    public = {k: v for k, v in session.items() if not k.startswith("_")}
    payload = _event("checkout.session.async_payment_failed", public)
    assert post(client, payload, sign(payload)).status_code == 200
    assert len(messages) == 1 and "KONBINI-9" in messages[0]


def test_an_alert_that_cannot_be_sent_never_fails_the_webhook(
    client,
    stripe_api,
    settings,
    sink,
    messages,
):
    sink[0].failing_with = 500
    session = _paid(stripe_api, "DOWN-1")
    dispute = {"id": "dp_2", "object": "dispute", "payment_intent": session["payment_intent"]}
    payload = _event("charge.dispute.created", dispute)
    assert post(client, payload, sign(payload)).status_code == 200
