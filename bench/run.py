"""Issue 8 benchmark: the portal and a naive baseline, measured in one run on one machine.

    .venv/bin/python bench/run.py [--latency-ms 100] [--quick]

Starts on 127.0.0.1: redis-server, moto's S3 behind a request counter, an OpenID provider
(oidc-provider-mock) and the Stripe emulator answering every API call after L ms, all
but redis in this process; then, under gunicorn with 2 workers each, the portal (rate
limits off, ``bench/portal_no_limits.py``), the portal as ``wsgi:app`` (for webhooks) and
``bench/naive.py``. It measures page views cold and warm, wrk throughput, webhook events/s
and worker memory, prints the tables and writes them to ``bench/RESULTS.md``. Everything
it starts is stopped when it ends, also on an error, Ctrl-C, SIGTERM or its own deadline.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import boto3
import redis
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState, signature_header
from portal.devstack.stripe_emulator import create_app as create_emulator
from portal.order_refs import order_id_of, sign

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HOST = "127.0.0.1"
API_KEY = "sk_test_bench" + "0" * 24
BUCKET = "order-portal-bench"
#: Customers are seeded with this many orders each.
SIZES = (1, 10, 100, 1000)
#: The customer whose /orders is compared with the naive baseline under wrk.
THROUGHPUT_SIZE = 100
#: Files stored under each order's prefix; the first is the one downloaded.
FILES = ("result.txt", "receipt.pdf")
#: The orders were bought through this link with OrderIDs signed for their buyers.
BENCH_LINK = "plink_bench"
ORDER_ID_KEY = secrets.token_urlsafe(48).encode()
WORKERS = 2
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


class BenchError(Exception):
    """The benchmark could not measure what it set out to measure."""


# --- counting what reaches Stripe and S3 ---------------------------------------------------


class RequestCounter:
    """WSGI middleware that counts the requests reaching an app (moto's S3 here)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        with self._lock:
            self.count += 1
        return self._app(environ, start_response)

    def reset(self) -> None:
        with self._lock:
            self.count = 0


class CallTimer:
    """WSGI middleware that times each answer of an app (the emulator's own work + L)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()
        self.seconds: list[float] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        body = list(self._app(environ, start_response))
        with self._lock:
            self.seconds.append(time.perf_counter() - started)
        return body

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()


# --- the stack ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Customer:
    """A seeded customer: their email and their orders, newest last."""

    email: str
    orders: tuple[dict[str, Any], ...]

    @property
    def newest(self) -> dict[str, Any]:
        return self.orders[-1]


@dataclass
class Stack:
    """Everything running in this process, and where the servers listen."""

    workdir: Path
    latency: float
    emulator: EmulatorState
    stripe_timer: CallTimer
    s3_counter: RequestCounter
    stripe_url: str
    s3_url: str
    oidc_url: str
    redis_url: str
    webhook_secret: str
    customers: dict[int, Customer] = field(default_factory=dict)

    def reset_counts(self) -> None:
        self.emulator.reset_calls()
        self.stripe_timer.reset()
        self.s3_counter.reset()


@dataclass(frozen=True)
class Server:
    """One gunicorn master with its workers."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_stack(stack: ExitStack, workdir: Path, latency: float) -> Stack:
    """redis-server, then S3, the OpenID provider and the Stripe emulator on threads."""
    redis_url = stack.enter_context(redis_server(workdir))
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    counter = RequestCounter(DomainDispatcherApplication(create_backend_app))
    s3_url = stack.enter_context(run_in_thread(counter, host=HOST)).url
    oidc_url = stack.enter_context(run_in_thread(_oidc_provider(), host=HOST)).url
    emulator = EmulatorState()
    stripe_port = free_port()
    stripe_url = f"http://{HOST}:{stripe_port}"
    timer = CallTimer(create_emulator(emulator, api_key=API_KEY, public_url=stripe_url))
    stack.enter_context(run_in_thread(timer, host=HOST, port=stripe_port))
    running = Stack(
        workdir=workdir,
        latency=latency,
        emulator=emulator,
        stripe_timer=timer,
        s3_counter=counter,
        stripe_url=stripe_url,
        s3_url=s3_url,
        oidc_url=oidc_url,
        redis_url=redis_url,
        webhook_secret="whsec_" + secrets.token_hex(16),
    )
    seed(running)
    emulator.latency_seconds = latency
    return running


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throw-away redis-server on a free loopback port."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 (our own command line)
        [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://{HOST}:{port}/0"
    try:
        _wait_until(lambda: _redis_answers(url), process, "redis-server", seconds=10)
        yield url
    finally:
        stop(process)


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _oidc_provider() -> Any:
    with warnings.catch_warnings():
        # oidc-provider-mock imports authlib modules authlib has deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import User
        from oidc_provider_mock import app as oidc_app
    users = [
        User(sub=_email(size), claims={"email": _email(size), "email_verified": True})
        for size in SIZES
    ]
    return oidc_app(user_claims=users)


def _email(size: int) -> str:
    return f"bench-{size}@example.jp"


def _signed(order_id: str, size: int) -> str:
    return sign(order_id, BENCH_LINK, _email(size), ORDER_ID_KEY)


def seed(stack: Stack) -> None:
    """Customers with 1, 10, 100 and 1000 paid orders, each order with its files in S3."""
    s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    for size in SIZES:
        orders = tuple(
            stack.emulator.add_order(
                _email(size),
                client_reference_id=sign(
                    f"B{size}-{n:04d}", BENCH_LINK, _email(size), ORDER_ID_KEY
                ),
                payment_link=BENCH_LINK,
                items=[("Print", 100 + n, 1), ("Frame", 2200, 1)],
            )
            for n in range(size)
        )
        stack.customers[size] = Customer(_email(size), orders)
    keys = [
        f"orders/{order_id_of(order['client_reference_id'])}/{name}"
        for customer in stack.customers.values()
        for order in customer.orders
        for name in FILES
    ]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=b"x" * 64), keys))


# --- gunicorn -------------------------------------------------------------------------------


def server_env(stack: Stack, public_url: str) -> dict[str, str]:
    """The process environment of a gunicorn server: ours only, no stray ``PORTAL_*``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_") and k != "PORT"}
    env.update(
        PORTAL_SECRET_KEY=secrets.token_urlsafe(48),
        PORTAL_PUBLIC_URL=public_url,
        PORTAL_STRIPE_SECRET_KEY=API_KEY,
        PORTAL_STRIPE_API_BASE=stack.stripe_url,
        PORTAL_STRIPE_WEBHOOK_SECRET=stack.webhook_secret,
        PORTAL_OIDC_ISSUER=stack.oidc_url,
        PORTAL_OIDC_CLIENT_ID="order-portal-bench",
        PORTAL_OIDC_CLIENT_SECRET=secrets.token_urlsafe(16),
        PORTAL_S3_BUCKET=BUCKET,
        PORTAL_S3_ENDPOINT_URL=stack.s3_url,
        PORTAL_CACHE_URL=stack.redis_url,
        PORTAL_ORDER_ID_KEY=ORDER_ID_KEY.decode(),
    )
    return env


@contextmanager
def gunicorn(stack: Stack, name: str, app: str) -> Iterator[Server]:
    """``gunicorn -c config/gunicorn.conf.py --workers 2 --bind 127.0.0.1:PORT <app>``."""
    port = free_port()
    url = f"http://{HOST}:{port}"
    log = stack.workdir / f"{name}.log"
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        *("-c", "config/gunicorn.conf.py", "--workers", str(WORKERS)),
        *("--bind", f"{HOST}:{port}", app),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            command,
            cwd=ROOT,
            env=server_env(stack, url),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_until(lambda: _healthy(url), process, f"gunicorn {app} (log: {log})", seconds=30)
        yield Server(name, url, process, log)
    finally:
        stop(process)


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _wait_until(
    ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, seconds: float
) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if process.poll() is not None:
            raise BenchError(f"{what} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not answer within {seconds:.0f} s")
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a process this script started, and whatever it started (its session)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown; redis stops too
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # its own session: only what it started
    process.wait(timeout=10)


def workers_of(server: Server) -> list[int]:
    """The pids of a gunicorn master's workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                after_name = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(after_name[1]) == server.process.pid:
                    pids.append(int(entry.name))
    return sorted(pids)


@dataclass(frozen=True)
class Memory:
    """One worker's memory in KiB: RSS just after start, and RSS, peak, PSS, USS at the end."""

    server: str
    pid: int
    boot_rss: int
    rss: int
    hwm: int
    pss: int
    uss: int


def memory_kib(pid: int) -> dict[str, int]:
    """RSS, peak RSS (VmHWM), PSS and USS (private pages) of a process, in KiB."""
    status = _kib_fields(Path(f"/proc/{pid}/status"))
    rollup = _kib_fields(Path(f"/proc/{pid}/smaps_rollup"))
    return {
        "rss": status["VmRSS"],
        "hwm": status["VmHWM"],
        "pss": rollup["Pss"],
        "uss": rollup["Private_Clean"] + rollup["Private_Dirty"],
    }


def _kib_fields(path: Path) -> dict[str, int]:
    fields = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    """The machine's busy CPU time and this script's (with everything it started)."""

    wall: float
    machine: float
    ours: float

    @classmethod
    def now(cls) -> CpuSnapshot:
        head = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in head)
        busy = user + nice + system + irq + softirq + steal
        return cls(time.monotonic(), busy / _TICKS, _tree_cpu(os.getpid()) / _TICKS)

    def others_since(self, start: CpuSnapshot) -> float:
        """Cores that other processes kept busy between ``start`` and this snapshot."""
        other = (self.machine - start.machine) - (self.ours - start.ours)
        return max(0.0, other / max(self.wall - start.wall, 1e-9))


def _tree_cpu(root: int) -> int:
    """Clock ticks used by ``root`` and its descendants (with their reaped children)."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                rest = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                # rest[1] is the ppid; rest[11:15] utime, stime, cutime, cstime.
                stats[int(entry.name)] = (int(rest[1]), sum(int(x) for x in rest[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total


# --- logging in and sending webhooks --------------------------------------------------------


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


# --- page views -----------------------------------------------------------------------------


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


# --- wrk ------------------------------------------------------------------------------------


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


# --- results --------------------------------------------------------------------------------


@dataclass
class Results:
    latency: float
    views: list[Views]
    ours: Load
    theirs: Load
    webhooks: Load
    memory: list[Memory]
    #: Cores kept busy by other processes on the machine, on average over the run.
    others: float

    def find(self, app: str, page: str, orders: int, cache: str) -> Views:
        return next(
            v
            for v in self.views
            if (v.app, v.page, v.orders, v.cache) == (app, page, orders, cache)
        )


def targets(r: Results) -> list[tuple[str, str, bool]]:
    """``(target, measured, met)`` for each target of issue 8."""
    L = r.latency
    limit = 1.15 * L + 0.030
    cold = [r.find("portal", "/orders", n, "cold") for n in SIZES]
    warm100 = r.find("portal", "/orders", THROUGHPUT_SIZE, "warm")
    download = [r.find("portal", "download", n, "warm") for n in SIZES]
    ratio = r.ours.per_second / r.theirs.per_second if r.theirs.per_second else math.inf
    peak = max(m.hwm for m in r.memory)
    # A worker gunicorn replaced during the run has no RSS at start (0).
    booted = [m.boot_rss for m in r.memory if m.boot_rss] or [0]
    return [
        (
            "Cold first page of /orders: exactly 1 Stripe call, whatever the order count",
            ", ".join(f"{v.orders}: {_span(v.stripe_calls)}" for v in cold),
            all(set(v.stripe_calls) == {1} for v in cold),
        ),
        (
            f"Cold first page of /orders: p50 ≤ 1.15·L + 30 ms = {limit * 1000:.0f} ms",
            ", ".join(
                f"{v.orders}: {v.p(0.5) * 1000:.0f} ms "
                f"(emulator work {statistics.median(v.emulator_work) * 1000:.0f} ms)"
                for v in cold
            ),
            all(v.p(0.5) <= limit for v in cold),
        ),
        (
            f"Warm /orders, {THROUGHPUT_SIZE} orders: p50 ≤ 10 ms",
            f"{warm100.p(0.5) * 1000:.1f} ms",
            warm100.p(0.5) <= 0.010,
        ),
        (
            f"Warm /orders, {THROUGHPUT_SIZE} orders: throughput ≥ 20x naive",
            f"{ratio:.0f}x ({r.ours.per_second:.1f} vs {r.theirs.per_second:.2f} requests/s)",
            ratio >= 20 and r.ours.errors == 0,
        ),
        (
            "Download of a cached order: 0 Stripe calls, 1 S3 call (the listing)",
            "Stripe "
            + ", ".join(_span(v.stripe_calls) for v in download)
            + "; S3 "
            + ", ".join(_span(v.s3_calls) for v in download),
            all(set(v.stripe_calls) == {0} and set(v.s3_calls) == {1} for v in download),
        ),
        (
            "Webhook verify + invalidate: ≥ 2000 events/s across 2 workers",
            f"{_unique_rate(r.webhooks):.0f} events/s",
            _unique_rate(r.webhooks) >= 2000 and r.webhooks.errors == 0,
        ),
        (
            "RSS ≤ 80 MB per worker (peak RSS, VmHWM, of every worker)",
            f"max {peak / 1024:.1f} MiB (at start: "
            f"{min(booted) / 1024:.0f}-{max(booted) / 1024:.0f} MiB); "
            # With preload_app most of it is shared with the master: PSS is the worker's share.
            f"PSS max {max(m.pss for m in r.memory) / 1024:.1f} MiB, "
            f"USS max {max(m.uss for m in r.memory) / 1024:.1f} MiB",
            peak <= 80 * 1024,
        ),
    ]


def _unique_rate(load: Load) -> float:
    return (load.requests - load.extra.get("duplicates", 0)) / load.seconds


def _span(values: Iterable[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def render(r: Results, command: str, plan: Plan) -> str:
    L = r.latency
    lines = [
        "# Benchmark results (issue 8)",
        "",
        f"* Command: `{command}`",
        f"* Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; portal code: {_revision()}",
        f"* Machine: nproc {os.cpu_count()}, {_cpu_model()}, Linux {platform.release()}, "
        f"Python {platform.python_version()}",
        f"* Stripe latency L = {L * 1000:.0f} ms per API call (emulator, in the bench "
        "process); S3 is moto, also in the bench process, without added latency; Redis is "
        "the cache and session store; the portal and the baseline run under gunicorn "
        f"with {WORKERS} workers x 4 threads (`config/gunicorn.conf.py`).",
        f"* Other processes on the machine kept {r.others:.2f} of its {os.cpu_count()} "
        "cores busy on average during the run (CPU time not used by this benchmark's "
        "processes); the load table shows it per load.",
        "* Times are measured client-side on loopback (request sent → response read, "
        "`requests`, one view at a time): server time plus well under 1 ms of client "
        "overhead. p99 is the nearest rank, so for n ≤ 100 it is the slowest view.",
        "",
        "## Ratios (this run)",
        "",
        f"Warm /orders throughput ours / naive ({THROUGHPUT_SIZE} orders): "
        + (
            f"**{r.ours.per_second / r.theirs.per_second:.0f}x** "
            f"({r.ours.per_second:.1f} / {r.theirs.per_second:.2f} requests/s)."
            if r.theirs.per_second
            else "naive completed no request."
        ),
        "",
        "| Orders | Cold first page / L (p50 / p99) | Stripe calls ours (cold) / naive: "
        "/orders | detail | download |",
        "| ---: | --- | --- | --- | --- |",
    ]
    for n in SIZES:
        cold = r.find("portal", "/orders", n, "cold")
        over_l = f"{cold.p(0.5) / L:.2f} / {cold.p(0.99) / L:.2f}" if L else "n/a (L = 0)"
        calls = [
            f"{max(r.find('portal', page, n, 'cold').stripe_calls)} / "
            f"{max(r.find('naive', page, n, 'none').stripe_calls)}"
            for page in PAGES
        ]
        lines.append(f"| {n} | {over_l} | {' | '.join(calls)} |")
    lines += [
        "",
        "## Targets",
        "",
        "| Target | Measured | Met |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| {name} | {measured} | {'yes' if met else '**no**'} |"
        for name, measured, met in targets(r)
    ]
    lines += [
        "",
        "## Page views",
        "",
        "Stripe and S3 calls are per view (min-max over the views). *Emulator work* is the "
        "emulator's own time per view beyond L (building and serialising Stripe objects in "
        "this process); real Stripe's work is inside its latency. *Cold* views follow a "
        "signed `checkout.session.completed` webhook for the order (list and detail "
        "invalidated); *warm* views follow one that filled the cache. The baseline has no "
        "cache.",
        "",
        "| App | Page | Orders | Cache | n | Stripe calls | S3 calls | p50 ms | p99 ms "
        "| Emulator work p50 ms |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for v in r.views:
        lines.append(
            f"| {v.app} | {v.page} | {v.orders} | {v.cache} | {len(v.seconds)} "
            f"| {_span(v.stripe_calls)} | {_span(v.s3_calls)} | {v.p(0.5) * 1000:.1f} "
            f"| {v.p(0.99) * 1000:.1f} | {statistics.median(v.emulator_work) * 1000:.1f} |"
        )
    lines += [
        "",
        "## Load (wrk)",
        "",
        f"`wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} -d<s> --latency`, from the same 2 cores "
        "as the servers. Warm /orders is the "
        f"{THROUGHPUT_SIZE}-order customer with one login's cookie; the portal's rate "
        "limits (120 pages a minute per customer) are off for it "
        "(`bench/portal_no_limits.py`). Webhooks go to `wsgi:app` itself, limits on: each "
        "is a unique, signed `checkout.session.completed` (`bench/webhooks.lua`).",
        "",
        "| Load | Seconds | Requests | Requests/s | p50 ms | p99 ms | Errors "
        "| Stripe calls meanwhile | Other processes' CPU (cores) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for load in (r.ours, r.theirs, r.webhooks):
        extra = (
            f" (unique {_unique_rate(load):.0f}/s, {load.extra.get('duplicates', 0)} duplicates)"
            if load.extra
            else ""
        )
        lines.append(
            f"| {load.what} | {load.seconds:.1f} | {load.requests} "
            f"| {load.per_second:.2f}{extra} | {_ms(load.p50_ms)} | {_ms(load.p99_ms)} "
            f"| {load.errors} | {load.stripe_calls} | {load.others:.2f} |"
        )
    lines += [
        "",
        "## Memory per gunicorn worker",
        "",
        "RSS counts every resident page the worker maps, shared libraries and pages "
        "shared with the gunicorn master included; PSS splits shared pages among their "
        "users; USS is the worker's private pages. *At start*: after gunicorn booted it, "
        "before any measurement; the rest after all the loads.",
        "",
        "| Server | Worker pid | RSS at start MiB | RSS MiB | Peak RSS (VmHWM) MiB "
        "| PSS MiB | USS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {m.server} | {m.pid} | {_mib(m.boot_rss)} | {m.rss / 1024:.1f} "
        f"| {m.hwm / 1024:.1f} | {m.pss / 1024:.1f} | {m.uss / 1024:.1f} |"
        for m in r.memory
    ]
    lines += [
        "",
        f"Plan: {'quick' if plan is QUICK else 'full'} — {plan.cold_views} cold and "
        f"{plan.warm_views} warm views per page and customer, naive up to "
        f"{plan.naive_views} views or {plan.naive_budget:.0f} s each, wrk "
        f"{plan.wrk_seconds} s, webhooks {plan.webhook_seconds} s.",
        "",
    ]
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _mib(kib: int) -> str:
    """KiB as MiB; a worker that started during the run (0) shows ``replaced``."""
    return f"{kib / 1024:.1f}" if kib else "replaced"


def _revision() -> str:
    """The checkout's commit, and whether the portal's files differ from it."""
    try:
        head = _git("rev-parse", "--short", "HEAD").strip()
        changed = _git("status", "--porcelain", "--", "portal", "templates", "config", "wsgi.py")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"git {head}" + (" with uncommitted changes" if changed.strip() else "")


def _git(*args: str) -> str:
    return subprocess.run(  # noqa: S603 (our own command line)
        ["git", *args],  # noqa: S607 (git from PATH, as a developer runs it)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout


def _cpu_model() -> str:
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.machine()


# --- main -----------------------------------------------------------------------------------


def run(latency: float, plan: Plan, command: str) -> str:
    with ExitStack() as stack:
        workdir = Path(tempfile.mkdtemp(prefix="order-portal-bench-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        print(f"Starting the stack (L = {latency * 1000:.0f} ms)…", flush=True)
        started = time.monotonic()
        running = start_stack(stack, workdir, latency)
        portal = stack.enter_context(gunicorn(running, "portal", "bench.portal_no_limits:app"))
        real = stack.enter_context(gunicorn(running, "portal-wsgi", "wsgi:app"))
        naive = stack.enter_context(gunicorn(running, "naive", "bench.naive:app"))
        servers = (portal, real, naive)
        at_boot = {pid: memory_kib(pid)["rss"] for server in servers for pid in workers_of(server)}
        print(f"  ready in {time.monotonic() - started:.1f} s", flush=True)
        cpu_start = CpuSnapshot.now()
        print("Page views, portal:", flush=True)
        views = measure_portal(running, portal, plan)
        print("Page views, naive baseline:", flush=True)
        views += measure_naive(running, naive, plan)
        print("Throughput, warm /orders:", flush=True)
        naive_page = next(
            v for v in views if (v.app, v.page, v.orders) == ("naive", "/orders", THROUGHPUT_SIZE)
        ).p(0.5)
        ours, theirs = throughput(running, portal, naive, plan, naive_page)
        print("Webhooks:", flush=True)
        hooks = webhook_rate(running, real, plan)
        others = CpuSnapshot.now().others_since(cpu_start)
        memory = [
            Memory(server.name, pid, at_boot.get(pid, 0), **memory_kib(pid))
            for server in servers
            for pid in workers_of(server)
        ]
        results = Results(latency, views, ours, theirs, hooks, memory, others)
        print("Stopping…", flush=True)
    return render(results, command, plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency-ms", type=float, default=100.0, help="Stripe latency L")
    parser.add_argument("--quick", action="store_true", help="fewer views, shorter loads")
    args = parser.parse_args(argv)
    if not 0 <= args.latency_ms <= 2000:
        parser.error("--latency-ms must be between 0 and 2000")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed: apt-get install -y wrk")
    plan = QUICK if args.quick else FULL
    command = shlex.join(["python", "bench/run.py", *(argv or sys.argv[1:])])
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    def give_up(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum} (deadline {plan.deadline} s or SIGTERM)")

    signal.signal(signal.SIGTERM, give_up)
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(plan.deadline)
    began = time.monotonic()
    try:
        report = run(args.latency_ms / 1000, plan, command)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.alarm(0)
    (BENCH / "RESULTS.md").write_text(report)
    print()
    print(report)
    print(f"Written to bench/RESULTS.md in {time.monotonic() - began:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
