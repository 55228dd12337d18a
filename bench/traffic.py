"""The steady load every bench phase runs under (issue 16): customers viewing their list,
an order and a download (``VIEWS_PER_SECOND`` in all, open loop: a slow portal piles
requests up as real customers would), Stripe sending a webhook every second about a new
order, and a load balancer probing ``/healthz``; and what each of them got back."""

from __future__ import annotations

import itertools
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from load import event_body, portal_login
from stack import BENCH_LINK, BUCKET, FILES, ORDER_ID_KEY, Server, Stack

from portal.devstack.stripe_emulator import signature_header
from portal.order_refs import order_id_of, sign

#: Page views per second (list, detail, download) and webhooks per second, as measured
#: for the issue: 20 views/s and 1 webhook/s.
VIEWS_PER_SECOND = 20
WEBHOOKS_PER_SECOND = 1
HEALTH_CHECKS_PER_SECOND = 5
#: Extra webhooks per second in the flood phase.
FLOOD_PER_SECOND = 50
#: Customers taking part (each logged in once, before the first phase).
CUSTOMERS = 40
#: A request gets no answer after this long (Stripe gives its webhooks 30 s too).
CLIENT_TIMEOUT = 30
#: Which customer, page and order comes next: not a secret, just a mix.
_CHANCE = random.Random(16)  # noqa: S311
#: The marker of the "as of" notice on a page served from a copy.
STALE_MARK = "notice notice-warning"


@dataclass
class Answer:
    kind: str
    status: int  # 0: no answer within the client's timeout (CLIENT_TIMEOUT)
    seconds: float
    stale: bool = False
    #: The portal's ``X-Request-Id`` for this request, which its access line carries.
    request_id: str = ""
    #: The access line's ``stripe=``: ``0`` (served from the cache alone) or attempts and
    #: the time on Stripe, waits for another request's read included; None: not read.
    stripe: str | None = None


@dataclass
class Shopper:
    email: str
    browser: requests.Session
    orders: list[dict[str, Any]]


class Traffic:
    """The steady load, and the webhooks Stripe sent, with what each got back."""

    def __init__(
        self,
        stack: Stack,
        server: Server,
        shoppers: list[Shopper],
        timeout: float = CLIENT_TIMEOUT,
        first_time_buyers: float = 0.0,
    ) -> None:
        self._stack = stack
        #: The share of new orders placed by buyers who never log in; the rest are the
        #: viewing customers' (all of them in the fault phases, which check every one).
        self._first_time_buyers = first_time_buyers
        #: A request still unanswered after this long is recorded as no answer.
        self._timeout = timeout
        self._server = server
        self._shoppers = shoppers
        self._pool = ThreadPoolExecutor(max_workers=400)
        self._lock = threading.Lock()
        self._answers: list[Answer] = []
        self._acknowledged: list[tuple[Shopper, str]] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._numbers = itertools.count()
        self._sent: list[tuple[Shopper, bytes]] = []

    @contextmanager
    def running(self, flood: bool = False) -> Iterator[None]:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._every, args=(1 / VIEWS_PER_SECOND, self._view)),
            threading.Thread(target=self._every, args=(1 / WEBHOOKS_PER_SECOND, self._webhook)),
            threading.Thread(target=self._every, args=(1 / HEALTH_CHECKS_PER_SECOND, self._health)),
        ]
        if flood:
            self._threads.append(
                threading.Thread(target=self._every, args=(1 / FLOOD_PER_SECOND, self._flood))
            )
        for thread in self._threads:
            thread.start()
        try:
            yield
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()

    def take(self) -> tuple[list[Answer], list[tuple[Shopper, str]]]:
        """What was answered and acknowledged so far (requests still open count later)."""
        with self._lock:
            answers, self._answers = self._answers, []
            acknowledged, self._acknowledged = self._acknowledged, []
        return answers, acknowledged

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _every(self, interval: float, task: Callable[[], None]) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._pool.submit(task)
            next_at += interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self._answers.append(answer)

    def _timed(self, kind: str, send: Callable[[], requests.Response]) -> requests.Response | None:
        started = time.monotonic()
        try:
            response = send()
        except requests.RequestException:
            self._record(Answer(kind, 0, time.monotonic() - started))
            return None
        stale = response.status_code == 200 and STALE_MARK in response.text
        self._record(
            Answer(
                kind,
                response.status_code,
                time.monotonic() - started,
                stale,
                response.headers.get("X-Request-Id", ""),
            )
        )
        return response

    def _view(self) -> None:
        shopper = _CHANCE.choice(self._shoppers)
        order = _CHANCE.choice(shopper.orders)
        roll = _CHANCE.random()
        if roll < 0.5:
            path, kind = "/orders", "list"
        elif roll < 0.8:
            path, kind = f"/orders/{order['id']}", "detail"
        else:
            path, kind = f"/orders/{order['id']}/files/{FILES[0]}", "download"
        url = self._server.url + path
        self._timed(
            kind,
            lambda: shopper.browser.get(url, timeout=self._timeout, allow_redirects=False),
        )

    def _health(self) -> None:
        url = f"{self._server.url}/healthz"
        self._timed("healthz", lambda: requests.get(url, timeout=self._timeout))

    def _flood(self) -> None:
        """A new event, or (one time in three) one sent before: Stripe's retries."""
        with self._lock:
            sent = list(self._sent[-200:])
        if sent and _CHANCE.random() < 1 / 3:
            _shopper, body = _CHANCE.choice(sent)
            self._timed("webhook", lambda: self._post(body))
            return
        self._webhook()

    def _webhook(self) -> None:
        number = next(self._numbers)
        if _CHANCE.random() < self._first_time_buyers:
            order = new_order(self._stack, f"buyer-{number}@example.jp", number)
            self._timed("webhook", lambda: self._post(event_body(order)))
            return
        shopper = _CHANCE.choice(self._shoppers)
        order = new_order(self._stack, shopper.email, number)
        body = event_body(order)
        response = self._timed("webhook", lambda: self._post(body))
        with self._lock:
            self._sent.append((shopper, body))
            if response is not None and response.status_code == 200:
                self._acknowledged.append((shopper, order_id_of(order["client_reference_id"])))

    def _post(self, body: bytes) -> requests.Response:
        return post_event(self._stack, self._server, body, self._timeout)


def new_order(stack: Stack, email: str, number: int) -> dict[str, Any]:
    """A new paid order at the emulator (as a customer just paid)."""
    reference = sign(f"F{number:06d}", BENCH_LINK, email, ORDER_ID_KEY)
    return stack.emulator.add_order(
        email, client_reference_id=reference, payment_link=BENCH_LINK, items=[("Print", 900, 1)]
    )


def post_event(
    stack: Stack, server: Server, body: bytes, timeout: float = CLIENT_TIMEOUT
) -> requests.Response:
    """Deliver a signed event (``load.event_body``) as Stripe does."""
    return requests.post(
        f"{server.url}/webhooks/stripe",
        data=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(body, stack.webhook_secret),
        },
        timeout=timeout,
    )


def shoppers(stack: Stack, server: Server) -> list[Shopper]:
    """``CUSTOMERS`` customers with two paid orders each (and their files), logged in."""
    s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")
    found = []
    for n in range(CUSTOMERS):
        email = f"fault-{n}@example.jp"
        requests.put(
            f"{stack.oidc_url}/users/{email}",
            json={"email": email, "email_verified": True},
            timeout=10,
        ).raise_for_status()
        orders = [new_order(stack, email, 900000 + n * 10 + k) for k in range(2)]
        for order in orders:
            key = f"orders/{order_id_of(order['client_reference_id'])}/{FILES[0]}"
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 64)
        found.append(Shopper(email, portal_login(stack, server, email), orders))
    return found


def p50_p99(answers: list[Answer]) -> str:
    """``p50 / p99`` in ms over the answered requests (nearest rank), or ``-``."""
    times = sorted(a.seconds * 1000 for a in answers if a.status)
    if not times:
        return "-"
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{statistics.median(times):.0f} / {p99:.0f}"
