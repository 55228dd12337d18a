"""What the benchmark does to the servers: logins, page views (cold and warm), wrk loads
and webhook floods, with what each cost in Stripe and S3 calls."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import requests
from stack import (
    BENCH,
    FILES,
    BenchError,
    CpuSnapshot,
    Server,
    Stack,
)

from portal.devstack.stripe_emulator import signature_header

#: The customer whose /orders is compared with the naive baseline under wrk.
THROUGHPUT_SIZE = 100


WRK_THREADS = 2


WRK_CONNECTIONS = 10


@dataclass(frozen=True)
class Plan:
    """How much of everything to do: the full run, or ``--quick``."""

    cold_views: int
    warm_views: int
    naive_views: int
    #: Seconds one naive (page, size) measurement may take; at least one view is made.
    naive_budget: float
    wrk_seconds: int
    #: The naive /orders load lasts this many of its page times (a view takes seconds).
    naive_rounds: float
    webhook_seconds: int
    #: The whole run is stopped (and cleaned up) after this many seconds.
    deadline: int


FULL = Plan(
    cold_views=20,
    warm_views=200,
    naive_views=10,
    naive_budget=15,
    wrk_seconds=10,
    naive_rounds=3,
    webhook_seconds=10,
    deadline=900,
)


QUICK = Plan(
    cold_views=5,
    warm_views=50,
    naive_views=3,
    naive_budget=3,
    wrk_seconds=3,
    naive_rounds=1.3,
    webhook_seconds=3,
    deadline=240,
)


def portal_login(stack: Stack, server: Server, email: str) -> requests.Session:
    """Log in through the OpenID provider's form, as a browser would."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/orders", timeout=10)
    if not form.url.startswith(stack.oidc_url):
        raise BenchError(f"/orders did not lead to the provider: {form.status_code} {form.url}")
    landed = browser.post(form.url, data={"sub": email}, timeout=30)
    if landed.status_code != 200 or landed.url != f"{server.url}/orders":
        raise BenchError(f"login as {email} failed: {landed.status_code} {landed.url}")
    return browser


def naive_login(server: Server, email: str) -> requests.Session:
    browser = requests.Session()
    browser.get(f"{server.url}/login", params={"email": email}, timeout=10).raise_for_status()
    return browser


def cookie_header(browser: requests.Session, url: str) -> str:
    """The ``Cookie`` header the browser would send to ``url`` (for wrk)."""
    prepared = browser.prepare_request(requests.Request("GET", url))
    return str(prepared.headers.get("Cookie", ""))


_event_numbers = iter(range(10**9))


def event_body(session: dict[str, Any]) -> bytes:
    """A ``checkout.session.completed`` event as Stripe sends it, with a new id."""
    event = {
        "id": f"evt_bench{os.getpid()}x{next(_event_numbers):09d}",
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": int(time.time()),
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "checkout.session.completed",
    }
    return json.dumps(event).encode()


def invalidate(stack: Stack, server: Server, session: dict[str, Any]) -> None:
    """Tell the portal that this order changed: its list and detail go cold."""
    body = event_body(session)
    answer = requests.post(
        f"{server.url}/webhooks/stripe",
        data=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(body, stack.webhook_secret),
        },
        timeout=10,
    )
    if answer.status_code != 200 or "invalidated" not in answer.text:
        raise BenchError(f"webhook not acted on: {answer.status_code} {answer.text[:200]}")


@dataclass
class Views:
    """Repeated views of one page: client-side times on loopback, and what they cost."""

    app: str
    page: str
    orders: int
    cache: str
    seconds: list[float] = field(default_factory=list)
    stripe_calls: list[int] = field(default_factory=list)
    s3_calls: list[int] = field(default_factory=list)
    #: Per view: the emulator's time answering, minus the injected latency L.
    emulator_work: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        """The ``q`` quantile of the times, nearest rank, in seconds."""
        ordered = sorted(self.seconds)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


PAGES = ("/orders", "detail", "download")


EXPECTED_STATUS = {"/orders": 200, "detail": 200, "download": 302}


def page_url(server: Server, page: str, order: dict[str, Any]) -> str:
    if page == "/orders":
        return f"{server.url}/orders"
    if page == "detail":
        return f"{server.url}/orders/{order['id']}"
    return f"{server.url}/orders/{order['id']}/files/{FILES[0]}"


def view(
    stack: Stack,
    browser: requests.Session,
    url: str,
    expected: int,
    views: Views,
    before: Callable[[], None] | None = None,
) -> None:
    """One page view: counted, timed from request sent to response read."""
    if before:
        before()
    stack.reset_counts()
    started = time.perf_counter()
    answer = browser.get(url, allow_redirects=False, timeout=120)
    elapsed = time.perf_counter() - started
    if answer.status_code != expected:
        raise BenchError(f"GET {url}: {answer.status_code}, expected {expected}")
    calls = len(stack.emulator.calls)
    views.seconds.append(elapsed)
    views.stripe_calls.append(calls)
    views.s3_calls.append(stack.s3_counter.count)
    views.emulator_work.append(sum(stack.stripe_timer.seconds) - calls * stack.latency)


def measure_portal(stack: Stack, server: Server, plan: Plan) -> list[Views]:
    """Each page, each customer: cold (after a webhook invalidated it) and warm."""
    results = []
    for size, customer in stack.customers.items():
        browser = portal_login(stack, server, customer.email)
        order = customer.newest
        for page in PAGES:
            url, expected = page_url(server, page, order), EXPECTED_STATUS[page]
            for _ in range(3):  # both workers past their first request
                view(stack, browser, url, expected, _unmeasured())
            cold = Views("portal", page, size, "cold")
            changed = partial(invalidate, stack, server, order)
            for _ in range(plan.cold_views):
                view(stack, browser, url, expected, cold, changed)
            warm = Views("portal", page, size, "warm")
            view(stack, browser, url, expected, _unmeasured())  # fills the cache
            for _ in range(plan.warm_views):
                view(stack, browser, url, expected, warm)
            results += [cold, warm]
            _progress(cold, warm)
    return results


def _unmeasured() -> Views:
    return Views("", "", 0, "")


def measure_naive(stack: Stack, server: Server, plan: Plan) -> list[Views]:
    """Each page, each customer; the baseline has no cache, so every view is cold."""
    results = []
    for size, customer in stack.customers.items():
        browser = naive_login(server, customer.email)
        for page in PAGES:
            url, expected = page_url(server, page, customer.newest), EXPECTED_STATUS[page]
            views = Views("naive", page, size, "none")
            deadline = time.monotonic() + plan.naive_budget
            while len(views.seconds) < plan.naive_views and (
                not views.seconds or time.monotonic() < deadline
            ):
                view(stack, browser, url, expected, views)
            results.append(views)
            _progress(views)
    return results


def _progress(*measured: Views) -> None:
    for views in measured:
        print(
            f"  {views.app:6} {views.page:8} {views.orders:5} orders {views.cache:4}: "
            f"p50 {views.p(0.5) * 1000:8.1f} ms, Stripe {max(views.stripe_calls)}, "
            f"S3 {max(views.s3_calls)} (n={len(views.seconds)})",
            flush=True,
        )


@dataclass(frozen=True)
class Load:
    """One wrk run."""

    what: str
    seconds: float
    requests: int
    per_second: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int
    stripe_calls: int
    #: Cores kept busy meanwhile by processes this script did not start.
    others: float
    extra: dict[str, int] = field(default_factory=dict)


def wrk(
    stack: Stack,
    what: str,
    url: str,
    seconds: float,
    *,
    cookie: str = "",
    script: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 10,
) -> Load:
    """``wrk -t2 -c10 -dNs --latency`` against one URL; Stripe calls counted meanwhile."""
    command = [
        "wrk",
        *(f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds:.0f}s", "--latency"),
        *("--timeout", f"{timeout:.0f}s"),
    ]
    if cookie:
        command += ["-H", f"Cookie: {cookie}"]
    if script:
        command += ["-s", str(script)]
    stack.reset_counts()
    before = CpuSnapshot.now()
    done = subprocess.run(  # noqa: S603 (our own command line)
        [*command, url],
        capture_output=True,
        text=True,
        timeout=seconds + timeout + 30,
        env={**os.environ, **(env or {})},
        check=True,
    )
    others = CpuSnapshot.now().others_since(before)
    return _parse_wrk(what, done.stdout, len(stack.emulator.calls), others)


def _parse_wrk(what: str, output: str, stripe_calls: int, others: float) -> Load:
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not total or not rate:
        raise BenchError(f"wrk printed no totals:\n{output}")
    errors = sum(
        int(n)
        for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", output)
        + re.findall(r"(?:connect|read|write|timeout) (\d+)", output)
    )
    extra = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", output.split("BENCH")[-1])}
    return Load(
        what=what,
        seconds=_seconds(float(total.group(2)), total.group(3)),
        requests=int(total.group(1)),
        per_second=float(rate.group(1)),
        p50_ms=_wrk_percentile(output, 50),
        p99_ms=_wrk_percentile(output, 99),
        errors=errors,
        stripe_calls=stripe_calls,
        others=others,
        extra=extra if "BENCH" in output else {},
    )


def _wrk_percentile(output: str, percent: int) -> float | None:
    found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    return _seconds(float(found.group(1)), found.group(2)) * 1000 if found else None


def _seconds(value: float, unit: str) -> float:
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def throughput(
    stack: Stack, portal: Server, naive: Server, plan: Plan, naive_page_seconds: float
) -> tuple[Load, Load]:
    """Warm /orders of the 100-order customer: the portal, then the baseline."""
    email = stack.customers[THROUGHPUT_SIZE].email
    browser = portal_login(stack, portal, email)
    browser.get(f"{portal.url}/orders", timeout=30).raise_for_status()  # warm the cache
    ours = wrk(
        stack,
        "portal warm /orders",
        f"{portal.url}/orders",
        plan.wrk_seconds,
        cookie=cookie_header(browser, f"{portal.url}/orders"),
    )
    print(f"  portal: {ours.per_second:.1f} requests/s, {ours.errors} errors", flush=True)
    # A naive view takes seconds: run long enough for several rounds of 8 concurrent views.
    seconds = max(plan.wrk_seconds, math.ceil(plan.naive_rounds * naive_page_seconds))
    browser = naive_login(naive, email)
    theirs = wrk(
        stack,
        "naive /orders",
        f"{naive.url}/orders",
        seconds,
        cookie=cookie_header(browser, f"{naive.url}/orders"),
        timeout=60,
    )
    print(f"  naive: {theirs.per_second:.2f} requests/s, {theirs.errors} errors", flush=True)
    _drain(stack)
    return ours, theirs


def _drain(stack: Stack, quiet: float = 1.5, longest: float = 60) -> None:
    """Wait until views wrk left running have stopped calling the emulator."""
    deadline = time.monotonic() + longest
    seen = -1
    while time.monotonic() < deadline and seen != len(stack.emulator.calls):
        seen = len(stack.emulator.calls)
        time.sleep(quiet)


def webhook_rate(stack: Stack, server: Server, plan: Plan) -> Load:
    """Signed, unique ``checkout.session.completed`` events through wrk.

    A short first run sizes the pool of pre-signed events for the measured one, so that
    (almost) every event is new and goes through verify, dedupe and invalidate.
    """
    sessions = [order for c in stack.customers.values() for order in c.orders]
    folder = stack.workdir / "events"
    folder.mkdir(exist_ok=True)
    url = f"{server.url}/webhooks/stripe"
    env = {"BENCH_EVENTS_DIR": str(folder)}
    script = BENCH / "webhooks.lua"
    _write_events(stack, folder, sessions, 4000)
    probe = wrk(stack, "webhooks (sizing)", url, 2, script=script, env=env)
    unique = probe.requests - probe.extra.get("duplicates", 0)
    estimate = max(probe.per_second, unique / probe.seconds)
    _write_events(stack, folder, sessions, int(estimate * plan.webhook_seconds * 1.5) + 2000)
    measured = wrk(stack, "webhooks", url, plan.webhook_seconds, script=script, env=env)
    print(
        f"  webhooks: {measured.per_second:.0f} events/s, "
        f"{measured.extra.get('duplicates', 0)} duplicates, {measured.errors} errors",
        flush=True,
    )
    return measured


def _write_events(stack: Stack, folder: Path, sessions: list[dict[str, Any]], count: int) -> None:
    files = [(folder / f"events-{n}.txt").open("w") for n in range(WRK_THREADS)]
    try:
        for n in range(count):
            body = event_body(sessions[n % len(sessions)])
            signature = signature_header(body, stack.webhook_secret)
            files[n % WRK_THREADS].write(f"{signature}\t{body.decode()}\n")
    finally:
        for file in files:
            file.close()
