"""Stripe never stalls the portal: budgets, caps, the breaker and the shared call budget.

The SDK talks real HTTP to a small local Stripe whose answers a test slows down or fails
(``responses`` cannot time out a socket); Redis is a real redis-server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import pytest
from flask import Flask, jsonify

from portal.cache_store import make_backend, redis_of
from portal.devstack.serving import run_in_thread
from portal.domain import OrdersUnavailable
from portal.stripe.client import call, make_client
from portal.stripe.guard import CallBudget, Limits, StripeGuard, request_scope
from tests.support.redis_server import redis_server

LIMITS = Limits(per_worker=4, per_customer=2, calls_per_second=1000, breaker_seconds=0.3)


@dataclass
class SlowStripe:
    """Answers ``GET /v1/customers/<id>`` after ``delay`` seconds, or with ``status``."""

    url: str = ""
    delay: float = 0.0
    status: int = 200
    calls: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    hold: bool = False


@pytest.fixture(scope="module")
def slow_stripe() -> Iterator[SlowStripe]:
    stripe = SlowStripe()
    app = Flask(__name__)

    @app.get("/v1/customers/<customer>")
    def customer(customer: str):  # type: ignore[no-untyped-def]
        stripe.calls += 1
        if stripe.hold:
            stripe.release.wait(5)
        time.sleep(stripe.delay)
        if stripe.status != 200:
            body = {"error": {"type": "api_error", "message": "Something went wrong."}}
            return jsonify(body), stripe.status
        return jsonify({"id": customer, "object": "customer"})

    with run_in_thread(app) as running:
        stripe.url = running.url
        yield stripe


@pytest.fixture
def stripe_server(slow_stripe: SlowStripe) -> SlowStripe:
    slow_stripe.delay, slow_stripe.status, slow_stripe.calls = 0.0, 200, 0
    slow_stripe.hold = False
    slow_stripe.release.clear()
    return slow_stripe


def fetch(client, customer: str = "cus_test123") -> object:  # type: ignore[no-untyped-def]
    return call(lambda: client.raw_request("get", f"/v1/customers/{customer}"))


def guarded(server: SlowStripe, limits: Limits = LIMITS, redis=None, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    guard = StripeGuard(limits, redis, timeout)
    return guard, make_client("sk_test_guard", server.url, guard)


def test_a_slow_stripe_costs_a_request_its_budget_not_three_timeouts(stripe_server):
    stripe_server.delay = 1.5
    _guard, client = guarded(stripe_server)
    with request_scope(1, None), pytest.raises(OrdersUnavailable):
        fetch(client)
    # One attempt, cut at the budget; the SDK's two retries were not started.
    assert stripe_server.calls == 1


def test_without_a_request_the_timeout_and_retries_stay_the_sdks(stripe_server):
    stripe_server.status = 500
    _guard, client = guarded(stripe_server)
    with pytest.raises(OrdersUnavailable):
        fetch(client)
    assert stripe_server.calls == 3  # the first attempt and two retries


def test_after_repeated_failures_the_breaker_stops_asking_then_probes(stripe_server):
    stripe_server.status = 503
    guard, client = guarded(stripe_server, replace(LIMITS, breaker_failures=3))
    with pytest.raises(OrdersUnavailable):
        fetch(client)  # three failed attempts open the breaker
    assert guard.breaker.state == "open"
    asked = stripe_server.calls
    with pytest.raises(OrdersUnavailable):
        fetch(client)
    assert stripe_server.calls == asked  # refused without asking Stripe
    stripe_server.status = 200
    time.sleep(0.35)  # the breaker's 0.3 s
    assert fetch(client) == {"id": "cus_test123", "object": "customer"}
    assert guard.breaker.state == "closed"


def test_a_failed_probe_keeps_the_breaker_open(stripe_server):
    stripe_server.status = 500
    guard, client = guarded(stripe_server, replace(LIMITS, breaker_failures=1))
    with pytest.raises(OrdersUnavailable):
        fetch(client)
    time.sleep(0.35)
    with request_scope(1, None), pytest.raises(OrdersUnavailable):
        fetch(client)  # the probe fails
    assert guard.breaker.state == "open"


def test_past_the_workers_cap_a_request_is_refused_at_once(stripe_server):
    stripe_server.hold = True
    _guard, client = guarded(stripe_server, Limits(1, 2, 1000))
    first = threading.Thread(target=fetch, args=(client,))
    first.start()
    while stripe_server.calls == 0:
        time.sleep(0.01)
    try:
        with pytest.raises(OrdersUnavailable):
            fetch(client)
        assert stripe_server.calls == 1
    finally:
        stripe_server.release.set()
        first.join()
    assert fetch(client) == {"id": "cus_test123", "object": "customer"}


@pytest.fixture(scope="module")
def redis_client(tmp_path_factory):
    with redis_server(tmp_path_factory.mktemp("guard-redis")) as url:
        yield redis_of(make_backend(url))


def test_one_customer_cannot_hold_more_than_their_share_across_workers(stripe_server, redis_client):
    stripe_server.hold = True
    limits = Limits(per_worker=4, per_customer=1, calls_per_second=1000)
    _one, worker_one = guarded(stripe_server, limits, redis_client)
    _two, worker_two = guarded(stripe_server, limits, redis_client)

    def as_ken() -> None:
        with request_scope(5, "ken"):
            fetch(worker_one)

    first = threading.Thread(target=as_ken)
    first.start()
    while stripe_server.calls == 0:
        time.sleep(0.01)
    try:
        with request_scope(5, "ken"), pytest.raises(OrdersUnavailable):
            fetch(worker_two)  # ken's one slot is taken, in the other worker
        assert stripe_server.calls == 1
        stripe_server.release.set()
        with request_scope(5, "kate"):
            assert fetch(worker_two)  # another customer is not held back
    finally:
        stripe_server.release.set()
        first.join()


def test_the_call_budget_is_shared_by_every_worker_through_redis(redis_client):
    redis_client.delete("order-portal:stripe-budget")
    workers = [CallBudget(5, redis_client), CallBudget(5, redis_client)]
    taken = sum(workers[n % 2].take(max_wait=0) for n in range(10))
    assert taken == 5  # one second's worth, whichever worker asks


def test_a_short_wait_for_the_next_token_is_better_than_a_refusal(redis_client):
    redis_client.delete("order-portal:stripe-budget")
    budget = CallBudget(20, redis_client)
    assert all(budget.take(max_wait=0) for _ in range(20))
    assert not budget.take(max_wait=0)
    assert budget.take(max_wait=0.25)  # a token comes every 50 ms


def test_without_redis_the_budget_is_kept_per_process():
    budget = CallBudget(3, None)
    assert [budget.take(max_wait=0) for _ in range(4)] == [True, True, True, False]


def test_one_request_with_parallel_calls_counts_once_against_the_caps(stripe_server):
    from portal.stripe.parallel import run_all

    _guard, client = guarded(stripe_server, Limits(1, 1, 1000))
    with request_scope(5, "ken"):
        answers = run_all([lambda: fetch(client) for _ in range(4)])
    assert len(answers) == 4 and stripe_server.calls == 4
    with request_scope(5, "ken"):  # the slots were given back when the request ended
        assert fetch(client)
