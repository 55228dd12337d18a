"""Order pages served from a cache that Stripe's webhooks keep fresh, and kept up in outages."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import boto3
import pytest

from portal import create_app
from portal.cache_store import make_backend
from portal.devstack.serving import free_port
from portal.order_cache import CacheUnavailable, OrderCache
from portal.settings import SettingsError
from portal.startup import checked_settings
from tests.conftest import AuthActions, with_settings
from tests.support.deliveries import fulfil
from tests.support.redis_server import redis_server
from tests.support.stripe_fixtures import checkout_session, fixture
from tests.test_webhooks import event, post, sign

ALICE = "alice@example.com"


def _event_for(session: dict, kind: str, event_id: str | None = None) -> bytes:
    body = fixture("event")
    public = {k: v for k, v in session.items() if not k.startswith("_")}
    body.update(
        id=event_id or f"evt_{kind}_{session['id'][-12:]}", type=kind, data={"object": public}
    )
    return json.dumps(body).encode()


def deliver(client, payload: bytes):
    return post(client, payload, sign(payload))


def test_a_second_view_of_the_list_costs_no_stripe_call(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE))
    client.get("/orders")
    client.get("/orders")
    assert stripe_api.call_count == 2  # one read: a list call per spelling of the email


def test_a_webhook_makes_the_next_view_read_stripe(client, logged_in, stripe_api):
    session = checkout_session(ALICE, reference="NEW-ORDER")
    client.get("/orders")
    stripe_api.add(session)
    assert b"NEW-ORDER" not in client.get("/orders").data  # cached, Stripe not asked
    assert deliver(client, _event_for(session, "checkout.session.completed")).status_code == 200
    assert b"NEW-ORDER" in client.get("/orders").data
    assert stripe_api.call_count == 4  # two reads of two spellings each


def test_a_webhook_refreshes_the_order_detail(client, logged_in, stripe_api):
    session = checkout_session(ALICE, reference="KONBINI", payment_status="unpaid")
    stripe_api.add(session)
    assert "Awaiting payment" in client.get(f"/orders/{session['id']}").get_data(as_text=True)
    session["payment_status"] = "paid"
    deliver(client, _event_for(session, "checkout.session.async_payment_succeeded"))
    assert "Paid" in client.get(f"/orders/{session['id']}").get_data(as_text=True)


def test_a_replayed_event_is_acknowledged_but_not_acted_on(client, logged_in, stripe_api):
    session = checkout_session(ALICE)
    stripe_api.add(session)
    payload = _event_for(session, "checkout.session.completed", "evt_replayed")
    assert deliver(client, payload).json["outcome"] == "invalidated"
    client.get("/orders")
    assert deliver(client, payload).json["outcome"] == "duplicate"
    client.get("/orders")
    assert stripe_api.call_count == 2  # one read (two spellings)


def test_out_of_order_events_only_invalidate_so_stripe_decides(client, logged_in, stripe_api):
    session = checkout_session(ALICE, reference="RACE")
    stripe_api.add(session)
    # Stripe says complete; the `expired` event of an earlier session attempt arrives last.
    deliver(client, _event_for(session, "checkout.session.completed"))
    deliver(client, _event_for({**session, "status": "expired"}, "checkout.session.expired"))
    assert b"RACE" in client.get("/orders").data


def test_other_event_types_are_ignored(client, stripe_api):
    response = deliver(client, event("customer.created"))
    assert response.status_code == 200
    assert response.json["outcome"] == "ignored"


def _refund_event(payment_intent: str, event_id: str = "evt_refund") -> bytes:
    charge = fixture("charge") | {"payment_intent": payment_intent, "refunded": True}
    body = fixture("event") | {"id": event_id, "type": "charge.refunded"}
    body["data"] = {"object": charge}
    return json.dumps(body).encode()


def test_a_refund_event_invalidates_the_order_it_refunds(client, logged_in, stripe_api):
    session = checkout_session(ALICE, reference="REFUNDED")
    session["payment_intent"] = "pi_refund_me"
    stripe_api.add(session)
    client.get("/orders")
    client.get(f"/orders/{session['id']}")
    calls = stripe_api.call_count
    assert deliver(client, _refund_event("pi_refund_me")).json["outcome"] == "invalidated"
    assert stripe_api.call_count == calls  # the webhook itself never asks Stripe
    client.get("/orders")
    client.get(f"/orders/{session['id']}")
    assert stripe_api.call_count == calls + 3  # the list (two spellings) and the order


def test_a_refund_of_an_order_nobody_viewed_costs_nothing(client, stripe_api):
    assert deliver(client, _refund_event("pi_never_cached")).json["outcome"] == "invalidated"
    assert stripe_api.call_count == 0


def test_a_refund_arriving_while_its_order_is_read_is_not_kept_as_fresh():
    from cachelib import SimpleCache

    from portal.domain import Money, Order, OrderStatus

    cache = OrderCache(SimpleCache(), ttl=60, stale=600)
    order = Order(
        session_id="cs_test_racing",
        reference=None,
        created=datetime.now(UTC),
        status=OrderStatus.PAID,
        total=Money(1000, "jpy"),
        email=ALICE,
        items=(),
        payment_intent="pi_racing",
    )

    def read_while_refunded() -> Order:
        cache.record_event("evt_racing_refund", payment_intent="pi_racing")
        return order

    cache.order_detail(order.session_id, read_while_refunded)
    assert cache.order_detail(order.session_id, lambda: "read again").value == "read again"


def test_a_download_reuses_the_cached_order(client, logged_in, stripe_api, s3):
    session = checkout_session(ALICE, reference="DL-CACHED")
    stripe_api.add(session)
    fulfil(s3, session, "result.zip")
    client.get(f"/orders/{session['id']}")
    calls = stripe_api.call_count
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302
    assert stripe_api.call_count == calls


def test_cache_keys_never_hold_a_raw_email(app, client, logged_in, stripe_api):
    client.get("/orders")
    backend = app.extensions["portal.orders"]._cache._backend
    keys = list(backend._cache)
    assert keys and not any("alice" in key for key in keys)


@pytest.fixture
def stale_app(settings, s3, stripe_api):
    """Entries are never fresh (TTL 0), so every view asks Stripe, but copies are kept."""
    app = create_app(with_settings(settings, cache_ttl_seconds=0))
    app.config["TESTING"] = True
    return app


def test_during_an_outage_a_stale_copy_is_shown_with_its_time(stale_app, stripe_api, idp_url):
    client = stale_app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    session = checkout_session(ALICE, reference="KEPT")
    stripe_api.add(session)
    client.get("/orders")
    client.get(f"/orders/{session['id']}")
    stripe_api.fail_with = 503
    listing = client.get("/orders")
    assert listing.status_code == 200
    assert "KEPT" in listing.get_data(as_text=True)
    assert "looked at" in listing.get_data(as_text=True)
    detail = client.get(f"/orders/{session['id']}")
    assert detail.status_code == 200 and "looked at" in detail.get_data(as_text=True)


def test_during_an_outage_without_a_copy_the_503_page_shows(stale_app, stripe_api, idp_url):
    client = stale_app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    stripe_api.fail_with = 503
    assert client.get("/orders").status_code == 503


def test_a_copy_older_than_the_stale_limit_is_not_shown(settings, s3, stripe_api, idp_url):
    app = create_app(with_settings(settings, cache_ttl_seconds=0, cache_stale_seconds=0))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    client.get("/orders")
    stripe_api.fail_with = 503
    assert client.get("/orders").status_code == 503


# --- EventBridge -----------------------------------------------------------------------


@pytest.fixture
def bus(aws):
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="stripe-events")
    return events


def _capture_rule(bus) -> str:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="captured")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    bus.put_rule(
        Name="paid",
        EventBusName="stripe-events",
        EventPattern=json.dumps({"source": ["order-portal.stripe"]}),
    )
    bus.put_targets(Rule="paid", EventBusName="stripe-events", Targets=[{"Id": "q", "Arn": arn}])
    return queue


def test_verified_events_are_put_on_the_eventbridge_bus_once(settings, s3, stripe_api, bus):
    queue = _capture_rule(bus)
    app = create_app(with_settings(settings, eventbridge_bus="stripe-events"))
    client = app.test_client()
    payload = event("checkout.session.completed")
    assert deliver(client, payload).status_code == 200
    assert deliver(client, payload).json["outcome"] == "duplicate"
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    put = json.loads(messages[0]["Body"])
    assert put["source"] == "order-portal.stripe"
    assert put["detail-type"] == "checkout.session.completed"
    assert put["detail"]["id"] == json.loads(payload)["id"]


def test_a_failed_put_answers_5xx_and_the_retry_acts(settings, s3, stripe_api, bus, monkeypatch):
    app = create_app(with_settings(settings, eventbridge_bus="no-such-bus"))
    client = app.test_client()
    payload = event("checkout.session.completed")
    assert deliver(client, payload).status_code == 503
    bus.create_event_bus(Name="no-such-bus")
    assert deliver(client, payload).json["outcome"] == "invalidated"


# --- Redis -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def test_two_instances_share_one_redis_and_a_webhook_to_one_refreshes_the_other(
    settings, s3, stripe_api, idp_url, redis_url
):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    shared = with_settings(settings, cache_url=redis_url)
    first, second = create_app(shared), create_app(shared)
    reader = second.test_client()
    AuthActions(reader, idp_url).login(ALICE)
    assert b"LATE-ORDER" not in reader.get("/orders").data
    session = checkout_session(ALICE, reference="LATE-ORDER")
    stripe_api.add(session)
    assert b"LATE-ORDER" not in reader.get("/orders").data  # served from Redis
    deliver(first.test_client(), _event_for(session, "checkout.session.completed"))
    assert b"LATE-ORDER" in reader.get("/orders").data


def test_redis_down_at_start_is_one_clear_line(monkeypatch, settings):
    from tests.test_settings import GOOD

    for name, value in {**GOOD, "PORTAL_CACHE_URL": f"redis://127.0.0.1:{free_port()}/0"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        checked_settings()
    assert str(error.value).startswith("PORTAL_CACHE_URL: Redis is not answering")


def test_redis_down_during_a_run_the_cache_reads_stripe_and_logs(tmp_path, caplog):
    with redis_server(tmp_path) as url:
        cache = OrderCache(make_backend(url), ttl=60, stale=600)
        assert cache.order_list(ALICE, 1, lambda: "from stripe").value == "from stripe"
    caplog.set_level(logging.WARNING)
    assert cache.order_list(ALICE, 1, lambda: "read again").value == "read again"
    assert any("order cache unavailable" in r.getMessage() for r in caplog.records)


def test_redis_down_during_a_run_pages_answer_503_not_a_traceback(
    settings, s3, stripe_api, idp_url, tmp_path
):
    with redis_server(tmp_path) as url:
        app = create_app(with_settings(settings, cache_url=url))
        client = app.test_client()
        AuthActions(client, idp_url).login(ALICE)
        assert client.get("/orders").status_code == 200
    response = client.get("/orders")  # sessions live in Redis too
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert b"Traceback" not in response.data


def test_on_redis_an_event_is_recorded_and_its_orders_marked_in_one_round_trip(
    redis_url, monkeypatch
):
    import redis
    from redis.connection import Connection

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    cache = OrderCache(make_backend(redis_url), ttl=60, stale=600)
    cache.record_event("evt_warm_up")  # loads the script
    cache.order_list(ALICE, 1, lambda: "before")
    cache.order_detail("cs_test_one", lambda: "before")
    sent = []
    original = Connection.send_packed_command
    monkeypatch.setattr(
        Connection,
        "send_packed_command",
        lambda self, command, check_health=True: sent.append(1) or original(self, command),
    )
    assert cache.record_event("evt_1", email=ALICE, session_id="cs_test_one")
    assert len(sent) == 1
    monkeypatch.undo()
    assert cache.order_list(ALICE, 1, lambda: "after").value == "after"
    assert cache.order_detail("cs_test_one", lambda: "after").value == "after"
    # A replay is acknowledged but marks nothing: the fresh copies stay.
    assert not cache.record_event("evt_1", email=ALICE, session_id="cs_test_one")
    assert cache.order_list(ALICE, 1, lambda: "again").value == "after"
    assert client.ttl("order-portal:evt:evt_1") > 2 * 86400


def test_on_redis_a_replayed_event_is_refused_by_every_instance(
    settings, s3, stripe_api, redis_url
):
    shared = with_settings(settings, cache_url=redis_url)
    first, second = create_app(shared).test_client(), create_app(shared).test_client()
    payload = _event_for(checkout_session(ALICE), "checkout.session.completed", "evt_shared")
    assert deliver(first, payload).json["outcome"] == "invalidated"
    assert deliver(second, payload).json["outcome"] == "duplicate"


def test_on_redis_concurrent_deliveries_of_one_event_act_once(redis_url):
    import threading

    caches = [OrderCache(make_backend(redis_url), ttl=60, stale=600) for _ in range(2)]
    start = threading.Barrier(16)
    outcomes: list[tuple[bool, bool]] = []

    def deliver_both(n: int) -> None:
        start.wait()
        cache = caches[n % 2]
        outcomes.append(
            (
                cache.record_event(f"evt_race_{n // 8}"),
                cache.record_event(f"evt_race_other_{n // 8}", email=ALICE),
            )
        )

    threads = [threading.Thread(target=deliver_both, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(first for first, _ in outcomes) == 2  # one per event id
    assert sum(first for _, first in outcomes) == 2


def test_with_redis_down_an_event_is_not_acknowledged(tmp_path):
    with redis_server(tmp_path) as url:
        cache = OrderCache(make_backend(url), ttl=60, stale=600)
    with pytest.raises(CacheUnavailable):
        cache.record_event("evt_down", email=ALICE)
    with pytest.raises(CacheUnavailable):
        cache.record_event("evt_down_refund", payment_intent="pi_down")
    with pytest.raises(CacheUnavailable):
        cache.seen("evt_down")


def test_with_redis_down_a_webhook_answers_503_so_stripe_retries(
    settings, s3, stripe_api, tmp_path, caplog
):
    payload = event("checkout.session.completed")
    with redis_server(tmp_path) as url:
        app = create_app(with_settings(settings, cache_url=url))
        client = app.test_client()
    caplog.set_level(logging.ERROR)
    response = deliver(client, payload)
    assert response.status_code == 503
    assert "not acknowledged" in caplog.text
    assert client.get("/healthz").status_code == 200


def test_readyz_fails_while_redis_is_unreachable_and_healthz_stays_cheap(
    settings, s3, stripe_api, tmp_path
):
    with redis_server(tmp_path) as url:
        app = create_app(with_settings(settings, cache_url=url))
        client = app.test_client()
        assert client.get("/readyz").status_code == 200
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200
    assert stripe_api.call_count == 0


def test_readyz_without_redis_is_ready(client, stripe_api):
    assert client.get("/readyz").json == {"status": "ready"}
    assert stripe_api.call_count == 0
