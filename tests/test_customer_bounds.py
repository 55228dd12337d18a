"""One customer costs Stripe little and cannot hold the portal (issue 13, F6 and F7).

Pages past the end are refused without a Stripe call; one cached history serves later
pages, filters and exports; identical concurrent reads are made once, across threads and,
with Redis, across workers; per-customer limits are shared by every worker on Redis.
"""

from __future__ import annotations

import threading
import time

import pytest

from portal import create_app
from portal.cache_store import make_backend
from portal.domain import OrdersUnavailable
from portal.order_cache import OrderCache
from portal.stripe.guard import request_scope, spent
from portal.stripe_budget import access_log_field
from tests.conftest import AuthActions, with_settings
from tests.support.redis_server import redis_server
from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"


def test_a_page_past_the_end_costs_no_stripe_call(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE))
    client.get("/orders")
    calls = stripe_api.call_count
    for page in (2, 7, 40):
        assert client.get(f"/orders?page={page}").status_code == 404
    assert stripe_api.call_count == calls


def test_a_page_past_the_history_limit_costs_nothing_even_uncached(client, logged_in, stripe_api):
    assert client.get("/orders?page=41").status_code == 404
    assert client.get("/orders?page=1000").status_code == 404
    assert stripe_api.call_count == 0


def test_later_pages_filters_and_exports_share_one_history(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"H-{i:03d}") for i in range(120)))
    assert client.get("/orders?page=2").status_code == 200
    calls = stripe_api.call_count
    assert client.get("/orders?page=3").status_code == 200
    assert client.get("/orders?q=H-007").status_code == 200
    assert client.get("/orders.json").status_code == 200
    assert client.get("/orders.csv?status=paid").status_code == 200
    assert stripe_api.call_count == calls


def _slow_reader(counter: list[int], delay: float = 0.3):
    def read() -> str:
        counter.append(1)
        time.sleep(delay)
        return "the history"

    return read


def _at_once(count: int, action) -> list:
    start = threading.Barrier(count)
    results: list = []

    def run() -> None:
        start.wait()
        results.append(action())

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_ten_identical_concurrent_reads_in_one_worker_ask_stripe_once():
    cache = OrderCache(make_backend(None), ttl=60, stale=600)
    reads: list[int] = []
    results = _at_once(10, lambda: cache.order_history(ALICE, _slow_reader(reads)).value)
    assert results == ["the history"] * 10
    assert len(reads) == 1


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("bounds-redis")) as url:
        yield url


def test_identical_concurrent_reads_in_several_workers_ask_stripe_once(redis_url):
    workers = [OrderCache(make_backend(redis_url), ttl=60, stale=600) for _ in range(3)]
    reads: list[int] = []
    turn = iter(range(12))

    def read_in_some_worker() -> str:
        worker = workers[next(turn) % 3]
        return worker.order_history("kate@example.com", _slow_reader(reads)).value

    assert _at_once(12, read_in_some_worker) == ["the history"] * 12
    assert len(reads) == 1


def test_the_per_customer_page_limit_is_shared_by_workers_on_redis(
    settings, s3, stripe_api, idp_url, redis_url
):
    shared = with_settings(settings, cache_url=redis_url)
    browsers = []
    for _worker in range(2):
        browser = create_app(shared).test_client()
        AuthActions(browser, idp_url).login("limited@example.com")
        browsers.append(browser)
    while True:  # the limit's window is the clock's minute: measure within one
        minute = int(time.time() // 60)
        codes = [browsers[n % 2].get("/orders").status_code for n in range(130)]
        if int(time.time() // 60) == minute:
            break
        time.sleep(61 - time.time() % 60)
    # 120 a minute per customer, counted once for both workers (not 120 each).
    assert codes.count(200) == 120
    assert codes.count(429) == 10


def test_a_request_that_waited_for_anothers_read_logs_the_wait_as_stripe_time():
    cache = OrderCache(make_backend(None), ttl=60, stale=600)
    reads: list[int] = []

    def one_request() -> tuple[int, float]:
        with request_scope(budget_seconds=4, customer=None):
            cache.order_history("lena@example.com", _slow_reader(reads))
            return spent()

    results = _at_once(4, one_request)
    assert len(reads) == 1
    # The readers' own attempts are counted by the HTTP client; here nobody made one.
    # The three that waited for the one read spent its time on Stripe all the same.
    waits = sorted(seconds for _attempts, seconds in results)
    assert waits[0] == 0 and all(seconds >= 0.15 for seconds in waits[1:])
    assert access_log_field(0, waits[0]) == "0"
    assert access_log_field(0, waits[-1]).startswith("0/")


def test_a_read_that_fails_on_its_own_is_not_counted_as_waiting_for_another():
    cache = OrderCache(make_backend(None), ttl=60, stale=600)

    def slow_then_down() -> str:
        time.sleep(0.2)
        raise OrdersUnavailable("Stripe did not answer")

    with request_scope(budget_seconds=0.1, customer=None):
        with pytest.raises(OrdersUnavailable):
            cache.order_history("mia@example.com", slow_then_down)
        # Its own attempts are the HTTP client's to count; it waited for nobody.
        assert spent() == (0, 0.0)
