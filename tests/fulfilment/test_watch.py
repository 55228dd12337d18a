"""``portal watch``: each problem found, told once per channel, cheaply, without secrets."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import boto3
import pytest
from cachelib import FileSystemCache, RedisCache
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from portal.deliverables import Deliverables
from portal.fulfilment.alerts import AlertKind, Alerts
from portal.fulfilment.dedupe import Once
from portal.fulfilment.delivery import DeliveryReader
from portal.fulfilment.slack import WebhookChannel
from portal.fulfilment.sns import SnsChannel
from portal.fulfilment.watch import Watch, WatchReport
from portal.order_refs import ReferencePolicy
from portal.stripe.client import make_client
from portal.stripe.queries import StripeOrders
from tests.conftest import BUCKET
from tests.fulfilment.shop import ALICE, HOUR, order, paid_order, put_file, put_status
from tests.support.deliveries import ORDER_ID_KEY, signed
from tests.support.redis_server import redis_server
from tests.support.stripe_fixtures import checkout_session, payment_intent


@pytest.fixture
def cache(tmp_path) -> FileSystemCache:  # type: ignore[no-untyped-def]
    """The shared cache as one host has it (PORTAL_CACHE_URL=file://…)."""
    return FileSystemCache(str(tmp_path / "cache"))


def _watch(s3, stripe_api, backend, channels) -> Watch:  # type: ignore[no-untyped-def]
    return Watch(
        StripeOrders(make_client("sk_test_watch123")),
        DeliveryReader(Deliverables(s3, BUCKET, "orders/{order_id}/", 300)),
        ReferencePolicy(ORDER_ID_KEY),
        Alerts(Once(backend), channels, "en"),
        usual_hours=24,
    )


def _run(s3, stripe_api, backend, channels) -> WatchReport:  # type: ignore[no-untyped-def]
    return _watch(s3, stripe_api, backend, channels).run(datetime.now(tz=UTC), days=7)


def _order(stripe_api, reference: str, *, hours_ago: float = 1, **charge_fields) -> dict:
    """A paid order ``hours_ago`` old (the charge as Stripe expands it)."""
    return paid_order(stripe_api, reference, hours_ago=hours_ago, **charge_fields)


def test_each_kind_of_problem_is_found(s3, stripe_api, cache, sink, messages):
    _order(stripe_api, "FINE")
    put_file(s3, "FINE")
    _order(stripe_api, "FAILED")
    put_status(s3, "FAILED", state="failed")
    _order(stripe_api, "OVERDUE", hours_ago=30)
    _order(stripe_api, "DISPUTED", disputed=True)
    put_file(s3, "DISPUTED")
    refunds = {"object": "list", "data": [{"id": "re_1", "status": "failed"}], "has_more": False}
    _order(stripe_api, "REFUND", refunds=refunds)
    put_file(s3, "REFUND")
    lapsed = signed(checkout_session(ALICE, reference="KONBINI", payment_status="unpaid"))
    lapsed["created"] = int(time.time()) - HOUR
    intent = payment_intent(status="requires_payment_method", failed=True)
    lapsed.update(payment_intent=intent["id"], _intent=intent)
    stripe_api.add(lapsed)
    report = _run(s3, stripe_api, cache, [WebhookChannel(sink[1])])
    found = {(a.order_id, a.kind) for a in report.found}
    assert found == {
        ("FAILED", AlertKind.FULFILMENT_FAILED),
        ("OVERDUE", AlertKind.FULFILMENT_OVERDUE),
        ("DISPUTED", AlertKind.DISPUTE_OPENED),
        ("REFUND", AlertKind.REFUND_FAILED),
        ("KONBINI", AlertKind.ASYNC_PAYMENT_FAILED),
    }
    assert len(messages) == 5 and len(report.sent) == 5


def test_two_runs_send_one_alert(s3, stripe_api, cache, sink, messages):
    _order(stripe_api, "TWICE", hours_ago=30)
    first = _run(s3, stripe_api, cache, [WebhookChannel(sink[1])])
    second = _run(s3, stripe_api, cache, [WebhookChannel(sink[1])])
    assert len(first.sent) == 1 and second.sent == [] and second.already == 1
    assert len(messages) == 1


def test_an_alert_names_the_order_with_a_masked_email_and_a_dashboard_link(
    s3, stripe_api, cache, sink, messages
):
    session = _order(stripe_api, "SHOWN", hours_ago=30)
    _run(s3, stripe_api, cache, [WebhookChannel(sink[1])])
    (text,) = messages
    assert "Fulfilment overdue" in text and "SHOWN" in text and session["id"] in text
    assert "a***@example.com" in text and ALICE not in text
    assert f"https://dashboard.stripe.com/test/search?query={session['id']}" in text
    assert "sk_test" not in text and "X-Amz" not in text


def test_many_alerts_at_once_become_one_summary(s3, stripe_api, cache, sink, messages):
    for n in range(8):
        _order(stripe_api, f"LATE-{n}", hours_ago=30)
    report = _run(s3, stripe_api, cache, [WebhookChannel(sink[1])])
    assert len(report.sent) == 8
    (text,) = messages
    assert "8 new alerts: Fulfilment overdue 8" in text
    assert all(f"LATE-{n}" in text for n in range(8))


def test_a_webhook_that_is_down_is_told_on_the_next_run(s3, stripe_api, cache, sink, messages):
    receiver, url = sink
    _order(stripe_api, "RETRY", hours_ago=30)
    receiver.failing_with = 503
    failed = _run(s3, stripe_api, cache, [WebhookChannel(url)])
    assert failed.failed_channels == ["webhook"] and messages == []
    assert "NOT SENT to webhook" in failed.summary()
    receiver.failing_with = None
    again = _run(s3, stripe_api, cache, [WebhookChannel(url)])
    assert [a.order_id for a in again.sent] == ["RETRY"] and len(messages) == 1


def test_alerts_go_to_the_sns_topic(s3, stripe_api, cache):
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="shop-alerts")["TopicArn"]
    _order(stripe_api, "TOPIC", hours_ago=30)
    _run(s3, stripe_api, cache, [SnsChannel(sns, topic)])
    sent = sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].topics[topic].sent_notifications
    assert len(sent) == 1
    _id, message, subject, *_ = sent[0]
    assert subject == "Order Portal: Fulfilment overdue, order TOPIC"
    assert "TOPIC" in message and "a***@example.com" in message


def test_a_run_costs_one_stripe_call_per_100_orders_and_one_listing_per_paid_order(
    s3, stripe_api, cache, sink, messages
):
    now = int(time.time())
    for n in range(150):
        order(stripe_api, f"R-{n}", created=now - 10 - n)
    order(stripe_api, "UNPAID", payment_status="unpaid", created=now - 5)
    order(stripe_api, "OLD", created=now - 30 * 86400)
    report = _run(s3, stripe_api, cache, [WebhookChannel(sink[1])])
    assert report.orders == 151
    assert report.stripe_calls == 2 == stripe_api.call_count
    assert report.s3_listings == 150 and report.s3_status_reads == 0


def test_runs_on_two_hosts_at_once_alert_once(tmp_path, s3, stripe_api, sink, messages):
    for n in range(3):
        _order(stripe_api, f"HOSTS-{n}", hours_ago=30)
    with redis_server(tmp_path) as url:
        reports: list[WatchReport] = []

        def host() -> None:
            backend = RedisCache(host=__import__("redis").Redis.from_url(url))
            reports.append(_run(s3, stripe_api, backend, [WebhookChannel(sink[1])]))

        threads = [threading.Thread(target=host) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sum(len(r.sent) for r in reports) == 3
    assert len(messages) == 3
