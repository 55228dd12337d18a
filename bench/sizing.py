"""gunicorn sizing (issue 16): the faults' steady load against the portal under several
worker configurations, each with Stripe healthy (L per call) and slow (2 s per call),
all in one run, so that each can be read as a ratio against the shipped one.

The configurations are started one after another (never two at once), each with 4
workers, an emptied Redis (no cache, session or Stripe budget carried over) and the same
customers logged in again. The Stripe-bound cap per worker (``PORTAL_STRIPE_CONCURRENCY``)
is scaled with the threads, half of them, as shipped (4 of 8): the other half is what
serves health checks, webhooks and cached pages while Stripe is slow. gevent runs twice:
as a config switch only (``--worker-class gevent``: gunicorn monkey-patches each worker
after the fork, but ``preload_app`` has already imported the app and made its locks in the
master), and with ``gevent.monkey.patch_all()`` run first, in a config file that then
reads the shipped one (every lock and thread-local is then gevent's).
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import redis
import requests
from load import portal_login
from stack import ROOT, BenchError, CpuSnapshot, Server, Stack, gunicorn, memory_kib, workers_of
from traffic import Answer, Shopper, Traffic, shoppers

#: gunicorn workers in every configuration: the shipped default on 2 cores.
WORKERS = 4
#: A request answered later than this counts as not answered (as for slow clients).
ANSWER_WITHIN = 5.0
#: Stripe's latency in the slow condition, as in the issue's measurement.
SLOW_STRIPE_SECONDS = 2.0
#: The configuration the others are compared with.
SHIPPED = "gthread, 8 threads, cap 4 (shipped)"
#: Lines of a server's log that say something went wrong (gevent's warnings included).
_TROUBLE = ("Traceback", "Warning", "WORKER TIMEOUT", "[ERROR]", "[CRITICAL]")


@dataclass(frozen=True)
class Sizing:
    """One way to run gunicorn: its options and the Stripe cap per worker."""

    name: str
    options: tuple[str, ...]
    stripe_concurrency: int
    #: A module the worker class needs (gevent is not a project dependency).
    needs: str | None = None
    #: Monkey-patch in the master, before the shipped config and the app are loaded.
    patch_first: bool = False


CONFIGURATIONS = (
    Sizing("gthread, 4 threads, cap 2", ("--threads", "4"), 2),
    Sizing(SHIPPED, (), 4),
    Sizing("gthread, 16 threads, cap 8", ("--threads", "16"), 8),
    Sizing("gthread, 16 threads, cap 4", ("--threads", "16"), 4),
    Sizing(
        "gevent, patched first, cap 4",
        ("--worker-class", "gevent"),
        4,
        needs="gevent",
        patch_first=True,
    ),
    Sizing("gevent, as is, cap 4", ("--worker-class", "gevent"), 4, needs="gevent"),
    # The shipped one once more at the end: how far the shared machine drifted meanwhile.
    Sizing(f"{SHIPPED}, again", (), 4),
)
#: A gunicorn config file: gevent's patches, then the shipped config.
_PATCHED_FIRST = """\
from gevent import monkey

monkey.patch_all()
with open({shipped!r}) as shipped:
    exec(compile(shipped.read(), {shipped!r}, "exec"))
"""


@dataclass
class Cell:
    """One configuration under one condition."""

    sizing: str
    condition: str
    seconds: float
    answers: list[Answer]

    def of(self, *kinds: str) -> list[Answer]:
        return [a for a in self.answers if a.kind in kinds]

    def pages(self) -> list[Answer]:
        return self.of("list", "detail", "download")

    def share_answered(self) -> float:
        quick = [a for a in self.answers if a.status and a.seconds <= ANSWER_WITHIN]
        return len(quick) / len(self.answers) if self.answers else 0.0

    def server_errors(self) -> int:
        return sum(1 for a in self.answers if a.status >= 500)


@dataclass
class Measured:
    """Every configuration's cells, its workers' memory after them and its log's trouble."""

    cells: list[Cell]
    memory: dict[str, list[dict[str, int]]]
    trouble: dict[str, list[str]]
    skipped: dict[str, str]
    others: float


def run(stack: Stack, app: str, seconds: float) -> Measured:
    """Each configuration in turn, Stripe healthy then slow for ``seconds`` each."""
    measured = Measured([], {}, {}, {}, 0.0)
    people: list[Shopper] = []
    cpu_start = CpuSnapshot.now()
    for number, sizing in enumerate(CONFIGURATIONS):
        if sizing.needs and find_spec(sizing.needs) is None:
            measured.skipped[sizing.name] = (
                f"{sizing.needs} is not installed: `.venv/bin/pip install {sizing.needs}`"
            )
            continue
        redis.Redis.from_url(stack.redis_url).flushall()
        name = f"sizing-{number}"
        try:
            with ExitStack() as running:
                server = running.enter_context(
                    gunicorn(
                        stack,
                        name,
                        app,
                        WORKERS,
                        options=sizing.options + _config_file(stack, sizing),
                        settings={"PORTAL_STRIPE_CONCURRENCY": str(sizing.stripe_concurrency)},
                    )
                )
                print(f"  {sizing.name}: logging in…", flush=True)
                people = _logged_in(stack, server, people)
                measured.cells += _conditions(stack, server, sizing, people, seconds)
                measured.memory[sizing.name] = [memory_kib(pid) for pid in workers_of(server)]
        except (BenchError, requests.RequestException) as exc:  # a finding too
            print(f"  {sizing.name}: failed: {exc}", flush=True)
            measured.skipped[sizing.name] = f"failed: {exc}"
        measured.trouble[sizing.name] = _trouble(stack.workdir / f"{name}.log")
    measured.others = CpuSnapshot.now().others_since(cpu_start)
    return measured


def _config_file(stack: Stack, sizing: Sizing) -> tuple[str, ...]:
    """``-c <file>`` replacing the shipped config, when the configuration needs one."""
    if not sizing.patch_first:
        return ()
    path = stack.workdir / "gunicorn-gevent-first.conf.py"
    path.write_text(_PATCHED_FIRST.format(shipped=str(ROOT / "config" / "gunicorn.conf.py")))
    return ("-c", str(path))


def _logged_in(stack: Stack, server: Server, people: list[Shopper]) -> list[Shopper]:
    """The customers (made at the first server), each logged in to ``server``."""
    if not people:
        return shoppers(stack, server)
    return [Shopper(p.email, portal_login(stack, server, p.email), p.orders) for p in people]


def _conditions(
    stack: Stack, server: Server, sizing: Sizing, people: list[Shopper], seconds: float
) -> list[Cell]:
    # Each request gives up just after ANSWER_WITHIN, so a condition's requests are all
    # answered or given up by the time its answers are taken.
    traffic = Traffic(stack, server, people, timeout=ANSWER_WITHIN + 1)
    cells = []
    try:
        for condition, latency in (
            ("healthy", stack.latency),
            (f"{SLOW_STRIPE_SECONDS:.0f} s per call", SLOW_STRIPE_SECONDS),
        ):
            print(f"  {sizing.name}: Stripe {condition}…", flush=True)
            with traffic.running():
                stack.emulator.latency_seconds = latency
                started = time.monotonic()
                time.sleep(seconds)
                ended = time.monotonic()
            stack.emulator.latency_seconds = stack.latency
            time.sleep(ANSWER_WITHIN + 2)  # the requests still open finish or give up
            answers, _acknowledged = traffic.take()
            cells.append(Cell(sizing.name, condition, ended - started, answers))
    finally:
        traffic.close()
    return cells


def _trouble(log: Path) -> list[str]:
    """The distinct lines of a server's log that report trouble (first five)."""
    found: dict[str, None] = {}
    if not log.exists():
        return []
    for line in log.read_text(errors="replace").splitlines():
        if any(mark in line for mark in _TROUBLE):
            found.setdefault(line.strip()[:200], None)
    return list(found)[:5]


def _p99(answers: list[Answer]) -> float | None:
    times = sorted(a.seconds * 1000 for a in answers if a.status)
    return times[min(len(times) - 1, int(len(times) * 0.99))] if times else None


def _p50(answers: list[Answer]) -> float | None:
    times = [a.seconds * 1000 for a in answers if a.status]
    return statistics.median(times) if times else None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _ratio(value: float | None, shipped: float | None) -> str:
    return f"{value / shipped:.2f}x" if value is not None and shipped else "-"


def render(measured: Measured, title: str) -> str:
    """One row per configuration and condition, ratios against the shipped configuration
    under the same condition; then memory per configuration and what its log said."""
    shipped = {c.condition: c for c in measured.cells if c.sizing == SHIPPED}
    lines = [
        f"### {title}",
        "",
        "| Configuration | Stripe | Requests | Answered within 5 s | 5xx | No answer "
        "| Pages p50 / p99 ms | /healthz p99 ms | Webhooks p99 ms "
        "| Pages p99 / shipped | /healthz p99 / shipped | Webhooks p99 / shipped |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cell in measured.cells:
        base = shipped.get(cell.condition)
        pages, health, hooks = cell.pages(), cell.of("healthz"), cell.of("webhook")
        codes = Counter(a.status for a in cell.answers)
        ratios = [
            _ratio(_p99(mine), _p99(theirs)) if base else "-"
            for mine, theirs in (
                (pages, base.pages() if base else []),
                (health, base.of("healthz") if base else []),
                (hooks, base.of("webhook") if base else []),
            )
        ]
        lines.append(
            f"| {cell.sizing} | {cell.condition} | {len(cell.answers)} "
            f"| {cell.share_answered():.1%} | {cell.server_errors()} | {codes.get(0, 0)} "
            f"| {_ms(_p50(pages))} / {_ms(_p99(pages))} | {_ms(_p99(health))} "
            f"| {_ms(_p99(hooks))} | " + " | ".join(ratios) + " |"
        )
    lines += [
        "",
        "| Configuration | Workers' RSS MiB | Workers' PSS MiB | PSS / shipped |",
        "| --- | --- | --- | ---: |",
    ]
    shipped_pss = _mean_pss(measured.memory.get(SHIPPED, []))
    for name, memory in measured.memory.items():
        rss = ", ".join(f"{m['rss'] / 1024:.0f}" for m in memory)
        pss = ", ".join(f"{m['pss'] / 1024:.0f}" for m in memory)
        lines.append(f"| {name} | {rss} | {pss} | {_ratio(_mean_pss(memory), shipped_pss)} |")
    lines += [
        "",
        f"Other processes kept {measured.others:.1f} of the 2 cores busy during the run.",
    ]
    for name, why in measured.skipped.items():
        lines.append(f"Not measured: {name} ({why}).")
    for name, trouble in measured.trouble.items():
        if trouble:
            lines.append(f"Log of {name}: " + "; ".join(f"`{t}`" for t in trouble) + ".")
    return "\n".join(lines) + "\n"


def _mean_pss(memory: list[dict[str, int]]) -> float | None:
    return statistics.mean(m["pss"] for m in memory) if memory else None
