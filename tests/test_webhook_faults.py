"""Nothing acknowledged is lost: a webhook answered 200 is visible on the next view, even
when Redis hangs or dies in the middle of a flood of them (a real redis-server)."""

from __future__ import annotations

import threading

import pytest

from portal import create_app
from tests.conftest import AuthActions, with_settings
from tests.support.redis_server import RedisProcess
from tests.support.stripe_fixtures import checkout_session
from tests.test_order_cache import _event_for, deliver

ALICE = "alice@example.com"
EVENTS = 40
#: The flood's event numbers at which Redis hangs, resumes, dies and comes back.
HANG, RESUME, KILL, RESTART = 8, 14, 22, 30


@pytest.fixture
def redis_with_aof(tmp_path):
    server = RedisProcess(tmp_path, appendonly=True)
    server.start()
    yield server
    server.stop()


def test_every_acknowledged_webhook_is_visible_after_redis_hangs_and_dies(
    settings, s3, stripe_api, idp_url, redis_with_aof
):
    app = create_app(with_settings(settings, cache_url=redis_with_aof.url))
    viewer = app.test_client()
    AuthActions(viewer, idp_url).login(ALICE)
    orders = [
        checkout_session(ALICE, reference=f"FLOOD-{n}", payment_status="unpaid")
        for n in range(EVENTS)
    ]
    stripe_api.add(*orders)
    for order in orders:  # every detail cached as "awaiting payment"
        assert "Awaiting payment" in viewer.get(f"/orders/{order['id']}").get_data(as_text=True)

    # Another customer keeps loading their list meanwhile (sessions live in the same Redis).
    browser = app.test_client()
    AuthActions(browser, idp_url).login("bob@example.com")
    probe = app.test_client()
    AuthActions(probe, idp_url).login("carol@example.com")
    done = threading.Event()
    seen: list[int] = []
    browsing = threading.Thread(target=_browse, args=(browser, done, seen))
    browsing.start()
    faults = {
        HANG: redis_with_aof.hang,
        RESUME: redis_with_aof.resume,
        KILL: redis_with_aof.kill,
        RESTART: redis_with_aof.start,
    }
    acknowledged, refused = [], []
    hooks = app.test_client()
    try:
        for n, order in enumerate(orders):
            if n in faults:
                faults[n]()
                # Also one page view right at each fault, whatever the thread's timing.
                seen.append(probe.get("/orders").status_code)
            order["payment_status"] = "paid"  # paid at the konbini; Stripe tells us
            payload = _event_for(order, "checkout.session.async_payment_succeeded")
            answer = deliver(hooks, payload)
            assert answer.status_code in (200, 503), answer.status_code
            (acknowledged if answer.status_code == 200 else refused).append((order, payload))
    finally:
        redis_with_aof.resume()
        done.set()
        browsing.join()

    assert refused, "the faults happened between deliveries, not during the flood"
    # Pages wait out the outage with the 503 page; the login survives the restart (AOF).
    assert set(seen) == {200, 503}
    assert len(acknowledged) > RESTART - KILL  # before, between and after the faults
    for order, _payload in acknowledged:
        page = viewer.get(f"/orders/{order['id']}").get_data(as_text=True)
        assert "Paid" in page and "Awaiting payment" not in page, order["client_reference_id"]
    # Stripe delivers each refused event again; then those orders show their change too.
    for order, payload in refused:
        assert deliver(hooks, payload).status_code == 200
        assert "Paid" in viewer.get(f"/orders/{order['id']}").get_data(as_text=True)


def _browse(customer, done: threading.Event, seen: list[int]) -> None:
    while not done.is_set():
        seen.append(customer.get("/orders").status_code)


def test_entries_stored_before_a_redis_restart_are_read_again(redis_with_aof):
    """A Redis restarted from its AOF may lack its last acknowledged writes (an
    invalidation among them): what it kept is then a copy, not a fresh entry."""
    from portal.cache_store import make_backend
    from portal.order_cache import OrderCache

    cache = OrderCache(make_backend(redis_with_aof.url), ttl=60, stale=600)
    assert cache.order_detail("cs_test_kept", lambda: "before").value == "before"
    assert cache.order_detail("cs_test_kept", lambda: "not read").value == "before"
    redis_with_aof.kill()
    redis_with_aof.start()
    assert cache.order_detail("cs_test_kept", lambda: "read again").value == "read again"
    assert cache.order_detail("cs_test_kept", lambda: "not read").value == "read again"
