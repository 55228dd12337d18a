"""Faults as a benchmark (issue 16): a steady load while Stripe, Redis and S3 misbehave.

Customers keep viewing their list, an order and a download (``VIEWS_PER_SECOND`` in all,
open loop: a slow portal piles requests up as real customers would), Stripe sends a
webhook every second about a new order, and a load balancer probes ``/healthz``. Each
phase turns one fault on for its length, then off, and records what everybody got:
status codes and times per kind of request, copies shown instead of fresh pages, Stripe
calls per second, webhooks acknowledged whose order is then missing from the customer's
next view (acknowledged and lost), and how long after the fault ended a fresh page came
back (recovery).
"""

from __future__ import annotations

import itertools
import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
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


@dataclass(frozen=True)
class Phase:
    """One fault, turned on for ``seconds`` then off (``start`` and ``end`` do that)."""

    name: str
    what: str
    start: Callable[[Stack], None]
    end: Callable[[Stack], None]
    #: Stripe also delivers ``FLOOD_PER_SECOND`` more events, a third of them replays.
    flood: bool = False


def _latency(seconds: float) -> Callable[[Stack], None]:
    def set_latency(stack: Stack) -> None:
        stack.emulator.latency_seconds = seconds

    return set_latency


def _stripe_mode(mode: str | None) -> Callable[[Stack], None]:
    def set_mode(stack: Stack) -> None:
        stack.stripe_faults.mode = mode

    return set_mode


def _nothing(_stack: Stack) -> None:
    pass


def _restart_redis(stack: Stack) -> None:
    stack.redis.start()  # from its append-only file


def _restore(stack: Stack) -> None:
    stack.emulator.latency_seconds = stack.latency


PHASES = (
    Phase("baseline", "Stripe answers in L", _nothing, _nothing),
    Phase("stripe 2 s", "every Stripe call takes 2 s", _latency(2.0), _restore),
    Phase(
        "stripe 6 s", "every Stripe call takes 6 s (past the 5 s timeout)", _latency(6.0), _restore
    ),
    Phase("stripe 500", "Stripe answers 500", _stripe_mode("500"), _stripe_mode(None)),
    Phase(
        "stripe 429 + Retry-After",
        "Stripe answers 429 with Retry-After: 30",
        _stripe_mode("429-retry-after"),
        _stripe_mode(None),
    ),
    Phase(
        "stripe 429",
        "Stripe answers 429 without Retry-After",
        _stripe_mode("429"),
        _stripe_mode(None),
    ),
    Phase(
        "stripe refused",
        "Stripe refuses connections",
        lambda s: s.stripe.stop(),
        lambda s: s.stripe.start(),
    ),
    Phase(
        "redis hung",
        "Redis stops answering (SIGSTOP)",
        lambda s: s.redis.hang(),
        lambda s: s.redis.resume(),
    ),
    Phase(
        "redis killed",
        "Redis killed (SIGKILL), restarted from its AOF",
        lambda s: s.redis.kill(),
        _restart_redis,
    ),
    Phase("s3 stopped", "S3 refuses connections", lambda s: s.s3.stop(), lambda s: s.s3.start()),
    Phase(
        "webhook flood",
        f"{FLOOD_PER_SECOND} more webhooks/s, a third of them replays",
        _nothing,
        _nothing,
        flood=True,
    ),
)


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
class PhaseResult:
    phase: str
    what: str
    seconds: float
    answers: list[Answer]
    stripe_calls: int
    acknowledged: int
    lost: int
    recovery: float | None
    notes: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[Answer]:
        return [a for a in self.answers if a.kind == kind]


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


def lost_events(stack: Stack, server: Server, acknowledged: list[tuple[Shopper, str]]) -> int:
    """Acknowledged orders missing from their customer's next (fresh) view."""
    lost = 0
    for shopper, order_id in acknowledged:
        for _attempt in range(20):
            page = shopper.browser.get(f"{server.url}/orders", timeout=CLIENT_TIMEOUT)
            if page.status_code == 200 and STALE_MARK not in page.text:
                break
            time.sleep(0.5)
        else:
            page = None
        if page is None or order_id not in page.text:
            lost += 1
    return lost


def recovery_seconds(stack: Stack, server: Server, probe: Shopper, since: float) -> float | None:
    """Seconds from ``since`` (fault ended) to the first fresh, uncached page."""
    deadline = since + 60
    while time.monotonic() < deadline:
        order = new_order(stack, probe.email, _CHANCE.randrange(10**6, 10**7))
        try:
            hook = post_event(stack, server, event_body(order))
            page = probe.browser.get(f"{server.url}/orders", timeout=CLIENT_TIMEOUT)
        except requests.RequestException:
            time.sleep(0.25)
            continue
        fresh = page.status_code == 200 and STALE_MARK not in page.text
        if (
            hook.status_code == 200
            and fresh
            and order_id_of(order["client_reference_id"]) in page.text
        ):
            return time.monotonic() - since
        time.sleep(0.25)
    return None


def run_phases(stack: Stack, server: Server, seconds: float, settle: float) -> list[PhaseResult]:
    """Every phase in turn under the steady load; returns what each did."""
    people = shoppers(stack, server)
    probe, others = people[0], people[1:]
    traffic = Traffic(stack, server, others)
    results = []
    try:
        for phase in PHASES:
            print(f"  {phase.name}…", flush=True)
            stack.reset_counts()
            with traffic.running(phase.flood):
                started = time.monotonic()
                phase.start(stack)
                time.sleep(seconds)
                calls = len(stack.stripe_timer.seconds)  # every answer, faults included
                phase.end(stack)
                ended = time.monotonic()
                recovery = recovery_seconds(stack, server, probe, ended)
            time.sleep(settle)  # let the requests still open finish
            answers, acknowledged = traffic.take()
            lost = lost_events(stack, server, acknowledged)
            results.append(
                PhaseResult(
                    phase.name,
                    phase.what,
                    ended - started,
                    answers,
                    calls,
                    len(acknowledged),
                    lost,
                    recovery,
                )
            )
    finally:
        traffic.close()
    return results


def read_stripe_fields(results: list[PhaseResult], access_log: Path) -> None:
    """Fill in each answer's ``stripe=`` from gunicorn's access lines (``stripe=0`` or
    ``stripe=2/2034ms``, then ``id=``), so pages served from the cache alone can be told
    from those that waited on Stripe: the issue's targets differ for the two."""
    fields: dict[str, str] = {}
    with access_log.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            found = _ACCESS_FIELDS.search(line)
            if found:
                fields[found["id"]] = found["stripe"]
    for result in results:
        for answer in result.answers:
            answer.stripe = fields.get(answer.request_id)


_ACCESS_FIELDS = re.compile(r" stripe=(?P<stripe>\S+) id=(?P<id>\S+)$")


def render(results: list[PhaseResult], title: str) -> str:
    """The per-phase table: what customers, Stripe and the load balancer got."""
    lines = [
        f"### {title}",
        "",
        "| Phase | Pages: codes | Pages p50 / p99 ms | Pages from the cache alone p50 / p99 ms "
        "| Pages that waited on Stripe p50 / p99 ms | Copies shown | /healthz p50 / p99 ms "
        "| Webhooks: codes | Webhooks p50 / p99 ms | Stripe calls/s | Acknowledged and lost "
        "| Recovery s |",
        "| --- | --- | --- | --- | --- | ---: | --- | --- | --- | ---: | --- | ---: |",
    ]
    for r in results:
        pages = [a for a in r.answers if a.kind in ("list", "detail", "download")]
        health, hooks = r.of("healthz"), r.of("webhook")
        cached = [a for a in pages if a.stripe == "0"]
        waited = [a for a in pages if a.stripe not in (None, "0")]
        lines.append(
            f"| {r.phase} | {_codes(pages)} | {p50_p99(pages)} | {p50_p99(cached)} "
            f"| {p50_p99(waited)} | {sum(a.stale for a in pages)} "
            f"| {p50_p99(health)} | {_codes(hooks)} | {p50_p99(hooks)} "
            f"| {r.stripe_calls / r.seconds:.1f} | {r.lost} of {r.acknowledged} "
            f"| {_recovery(r.recovery)} |"
        )
    return "\n".join(lines) + "\n"


def _codes(answers: list[Answer]) -> str:
    counts = Counter("no answer" if a.status == 0 else str(a.status) for a in answers)
    return ", ".join(f"{code}: {n}" for code, n in sorted(counts.items())) or "-"


def p50_p99(answers: list[Answer]) -> str:
    """``p50 / p99`` in ms over the answered requests (nearest rank), or ``-``."""
    times = sorted(a.seconds * 1000 for a in answers if a.status)
    if not times:
        return "-"
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return f"{statistics.median(times):.0f} / {p99:.0f}"


def _recovery(seconds: float | None) -> str:
    return "not within 60 s" if seconds is None else f"{seconds:.1f}"
