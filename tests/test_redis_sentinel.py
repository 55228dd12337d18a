"""Redis behind Sentinel (``redis+sentinel://``), against a real master, two replicas and
three redis-sentinel processes: through a failover in the middle of a webhook flood,
logins stay and no acknowledged webhook is lost; a webhook is acknowledged only once the
replicas have its change; Sentinels that name no master stop the start with one line."""

from __future__ import annotations

import itertools
import logging
import sys
import threading
import time

import pytest
import redis

from portal import create_app
from portal.redis_client import make_redis
from tests.conftest import AuthActions, with_settings
from tests.support.redis_sentinel import SERVICE, SentinelSet, sentinel_set, until
from tests.support.stripe_fixtures import checkout_session
from tests.test_order_cache import _event_for, deliver
from tests.test_settings import GOOD, _run

ALICE = "alice@example.com"
SENDERS = 3
EVENTS = 1000
PREFIX = "order-portal:"


@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    with sentinel_set(tmp_path_factory.mktemp("sentinel")) as running:
        yield running


def test_a_webhook_is_acknowledged_only_once_the_replicas_have_it(
    settings, s3, stripe_api, ha: SentinelSet, caplog
):
    app = create_app(with_settings(settings, cache_url=ha.url))
    hooks = app.test_client()
    until(ha.settled, "the old master did not become a replica")
    first, second = ha.replicas()
    caplog.set_level(logging.WARNING)

    first.stop()  # one of two replicas may be lost
    until(lambda: _deliver_paid(hooks, "HA-ONE-DOWN") == 200, "one replica is not enough")

    second.stop()  # none left: nothing is acknowledged
    until(lambda: ha.replica_is_down(second), "the Sentinels did not mark the replica down")
    assert _deliver_paid(hooks, "HA-NONE-LEFT") == 503
    assert "0 of 1 Redis replicas confirmed it within 250 ms" in caplog.text

    ha.restart_as_replica(first)
    ha.restart_as_replica(second)
    until(lambda: _deliver_paid(hooks, "HA-NONE-LEFT") == 200, "the replicas came back in vain")


def test_logins_stay_and_no_acknowledged_webhook_is_lost_through_a_failover(
    settings, s3, stripe_api, idp_url, ha: SentinelSet
):
    until(ha.settled, "the replicas did not come back")
    app = create_app(with_settings(settings, cache_url=ha.url))
    viewer = app.test_client()
    AuthActions(viewer, idp_url).login(ALICE)
    orders = [
        checkout_session(ALICE, reference=f"HA-{n}", payment_status="unpaid") for n in range(EVENTS)
    ]
    stripe_api.add(*orders)
    for order in orders[:20]:  # some details cached as "awaiting payment" on the old master
        assert "Awaiting payment" in viewer.get(f"/orders/{order['id']}").get_data(as_text=True)
    old_master = ha.master_port()

    flood = _Flood(app, orders)
    flood.start()
    # Webhooks keep arriving before, during and after the failover.
    until(lambda: flood.sent() >= 10, "the flood did not start")
    new_master = ha.failover()
    promoted_at = flood.sent()
    until(lambda: flood.sent() >= promoted_at + 10, "no webhook answered after the failover")
    flood.stop()
    assert new_master != old_master

    # Every acknowledged change is on the new master: the event record and both marks.
    store = redis.Redis(port=new_master)
    for order, event_id in flood.acknowledged:
        assert store.exists(f"{PREFIX}evt:{event_id}"), order["client_reference_id"]
        assert store.exists(f"{PREFIX}inv:{order['id']}"), order["client_reference_id"]
    # Alice's login, made on the old master, is still hers on the new one, and each order
    # Stripe told us about shows as paid (the refused ones once Stripe delivers them again).
    page = viewer.get("/orders")
    assert page.status_code == 200 and ALICE in page.get_data(as_text=True)
    # (A sample: a customer may view 120 pages a minute.)
    for order, _event_id in flood.acknowledged[:: len(flood.acknowledged) // 20 + 1]:
        assert "Paid" in viewer.get(f"/orders/{order['id']}").get_data(as_text=True)
    hooks = app.test_client()
    for order in flood.refused:
        payload = _event_for(order, "checkout.session.async_payment_succeeded")
        until(lambda p=payload: deliver(hooks, p).status_code == 200, "never acknowledged")
    for order in flood.refused[:20]:
        assert "Paid" in viewer.get(f"/orders/{order['id']}").get_data(as_text=True)
    # Sessions, rate limits and the Stripe call budget all moved to the new master.
    keys = {key.decode() for key in store.keys("*")}
    assert any(key.startswith(f"{PREFIX}session:") for key in keys)
    assert any(key.startswith("LIMITS:") for key in keys)
    assert f"{PREFIX}stripe-budget" in keys


def test_sentinels_that_name_no_master_stop_check_config_with_one_line(ha: SentinelSet):
    live = f"127.0.0.1:{ha.sentinel_ports[0]}"
    for url in (
        f"redis+sentinel://127.0.0.1:{ha.dead_sentinel_port}/{SERVICE}/0",  # none answers
        f"redis+sentinel://{live}/another-service/0",  # not the name they watch
    ):
        check = _run(
            [sys.executable, "-m", "portal.cli", "check-config"], {**GOOD, "PORTAL_CACHE_URL": url}
        )
        assert check.returncode == 2
        assert check.stderr == (
            "portal: setting PORTAL_CACHE_URL: Redis is not answering (MasterNotFoundError)\n"
        )
    good = _run(
        [sys.executable, "-m", "portal.cli", "check-config"], {**GOOD, "PORTAL_CACHE_URL": ha.url}
    )
    assert good.returncode == 0, good.stderr


def _deliver_paid(client, reference: str) -> int:
    order = checkout_session(ALICE, reference=reference, payment_status="paid")
    payload = _event_for(order, "checkout.session.async_payment_succeeded")
    return deliver(client, payload).status_code


class _Flood:
    """``SENDERS`` threads delivering konbini-paid webhooks, one order each, until stopped."""

    def __init__(self, app, orders: list[dict]) -> None:
        self._app = app
        self._orders = iter(orders)
        self._count = itertools.count()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._send) for _ in range(SENDERS)]
        self.acknowledged: list[tuple[dict, str]] = []
        self.refused: list[dict] = []

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join()

    def sent(self) -> int:
        with self._lock:
            return len(self.acknowledged) + len(self.refused)

    def _send(self) -> None:
        client = self._app.test_client()
        while not self._stopping.is_set():
            with self._lock:
                order = next(self._orders, None)
            if order is None:
                return
            order["payment_status"] = "paid"  # paid at the konbini; Stripe tells us
            payload = _event_for(order, "checkout.session.async_payment_succeeded")
            status = deliver(client, payload).status_code
            assert status in (200, 503), status
            event_id = f"evt_checkout.session.async_payment_succeeded_{order['id'][-12:]}"
            with self._lock:
                if status == 200:
                    self.acknowledged.append((order, event_id))
                else:
                    self.refused.append(order)
            time.sleep(0.1)


def test_the_password_in_a_sentinel_url_is_sent_to_the_sentinels_and_to_redis():
    client = make_redis("redis+sentinel://:s%40cret@10.0.0.1,10.0.0.2:26380/portal-cache/3")
    pool = client.connection_pool
    assert pool.connection_kwargs["password"] == "s@cret"
    assert pool.connection_kwargs["db"] == 3
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    assert all(s.connection_pool.connection_kwargs["password"] == "s@cret" for s in sentinels)
