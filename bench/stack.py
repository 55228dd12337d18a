"""The benchmark's stack: redis-server, moto's S3, an OpenID provider and the Stripe
emulator on loopback, seeded customers, gunicorn servers, and each worker's memory and
the machine's CPU. Everything started here is stopped by the caller's ``ExitStack``."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import redis
import requests
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState
from portal.devstack.stripe_emulator import create_app as create_emulator
from portal.order_refs import order_id_of, sign

ROOT = Path(__file__).resolve().parent.parent


BENCH = ROOT / "bench"


HOST = "127.0.0.1"


API_KEY = "sk_test_bench" + "0" * 24


BUCKET = "order-portal-bench"


#: Customers are seeded with this many orders each.
SIZES = (1, 10, 100, 1000)


#: Files stored under each order's prefix; the first is the one downloaded.
FILES = ("result.txt", "receipt.pdf")


#: The orders were bought through this link with OrderIDs signed for their buyers.
BENCH_LINK = "plink_bench"


ORDER_ID_KEY = secrets.token_urlsafe(48).encode()


WORKERS = 2


class BenchError(Exception):
    """The benchmark could not measure what it set out to measure."""


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
    redis: RedisProcess
    s3: Restartable
    stripe: Restartable
    stripe_faults: StripeFaults
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
    redis_process = RedisProcess(workdir)
    redis_process.start()
    stack.callback(redis_process.stop)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    counter = RequestCounter(DomainDispatcherApplication(create_backend_app))
    s3 = Restartable(counter)
    stack.callback(s3.stop)
    oidc_url = stack.enter_context(run_in_thread(_oidc_provider(), host=HOST)).url
    emulator = EmulatorState()
    stripe_port = free_port()
    stripe_url = f"http://{HOST}:{stripe_port}"
    faults = StripeFaults(create_emulator(emulator, api_key=API_KEY, public_url=stripe_url))
    timer = CallTimer(faults)
    stripe = Restartable(timer, stripe_port)
    stack.callback(stripe.stop)
    running = Stack(
        workdir=workdir,
        latency=latency,
        emulator=emulator,
        stripe_timer=timer,
        s3_counter=counter,
        stripe_url=stripe_url,
        s3_url=s3.url,
        oidc_url=oidc_url,
        redis_url=redis_process.url,
        webhook_secret="whsec_" + secrets.token_hex(16),
        redis=redis_process,
        s3=s3,
        stripe=stripe,
        stripe_faults=faults,
    )
    seed(running)
    emulator.latency_seconds = latency
    return running


class Restartable:
    """A WSGI app served on a thread at a fixed port, which can be stopped (connections
    are then refused) and started again on the same port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self._app = app
        self.port = port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.start()

    def start(self) -> None:
        self._server = make_server(HOST, self.port, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None


class StripeFaults:
    """WSGI middleware in front of the Stripe emulator: answers every call with a 500 or
    a 429 (with or without ``Retry-After``) while ``mode`` says so."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self.mode: str | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        mode = self.mode
        if mode is None:
            return self._app(environ, start_response)
        status = "500 Internal Server Error" if mode == "500" else "429 Too Many Requests"
        kind = "api_error" if mode == "500" else "rate_limit_error"
        headers = [("Content-Type", "application/json"), ("Request-Id", "req_fault")]
        if mode == "429-retry-after":
            headers.append(("Retry-After", "30"))
        body = json.dumps({"error": {"type": kind, "message": f"fault: {mode}"}}).encode()
        start_response(status, headers)
        return [body]


class RedisProcess:
    """A throw-away redis-server on a fixed loopback port, with its append-only file on
    (as the README advises), which can hang, resume, be killed and start again."""

    def __init__(self, workdir: Path) -> None:
        self._workdir = workdir
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        command = [binary, "--port", str(self.port), "--bind", HOST, "--save", ""]
        self.process = subprocess.Popen(  # noqa: S603 (our own command line)
            [*command, "--appendonly", "yes", "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_until(lambda: _redis_answers(self.url), self.process, "redis-server", seconds=10)

    def hang(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            stop(self.process)


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
        # The emulator stands in for a live account: Stripe's live limit, with headroom.
        PORTAL_STRIPE_CALLS_PER_SECOND="80",
        # Each server's master serves its metrics on a port of its own (not 9464, which
        # several servers, and other runs on the machine, would share).
        PORTAL_METRICS_BIND=f"{HOST}:{free_port()}",
    )
    return env


@contextmanager
def gunicorn(
    stack: Stack,
    name: str,
    app: str,
    workers: int = WORKERS,
    root: Path = ROOT,
    *,
    behind: str | None = None,
    options: tuple[str, ...] = (),
    settings: dict[str, str] | None = None,
) -> Iterator[Server]:
    """``gunicorn -c config/gunicorn.conf.py --workers 2 --bind 127.0.0.1:PORT <app>``,
    from ``root`` (another checkout of the portal, to measure an older revision).

    ``behind``: the public https URL of the proxy in front of it (which then is the one
    proxy whose forwarded headers count); the Server's ``url`` is still gunicorn's own.
    ``options``: more gunicorn options (``--threads 16``); ``settings``: ``PORTAL_*``
    values that replace the bench's own.
    """
    port = free_port()
    url = f"http://{HOST}:{port}"
    env = server_env(stack, behind or url)
    if behind:
        env["PORTAL_TRUSTED_PROXIES"] = "1"
    env.update(settings or {})
    log = stack.workdir / f"{name}.log"
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        *("-c", "config/gunicorn.conf.py", "--workers", str(workers)),
        *options,
        *("--bind", f"{HOST}:{port}", app),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 (our own command line)
            command,
            cwd=root,
            env=env,
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
