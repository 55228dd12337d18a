"""Faults as a benchmark (issue 16): a steady load while Stripe, Redis and S3 misbehave.

Under the steady load of ``traffic.Traffic`` (customers viewing pages, a webhook a
second, a load balancer's health checks), each phase turns one fault on for its length,
then off, and records what everybody got: status codes and times per kind of request,
copies shown instead of fresh pages, Stripe calls per second, webhooks acknowledged whose
order is then missing from the customer's next view (acknowledged and lost), and how long
after the fault ended a fresh page came back (recovery).
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
from load import event_body
from stack import Server, Stack
from traffic import (
    CLIENT_TIMEOUT,
    FLOOD_PER_SECOND,
    STALE_MARK,
    Answer,
    Shopper,
    Traffic,
    new_order,
    p50_p99,
    post_event,
    shoppers,
)

from portal.order_refs import order_id_of

#: The recovery probe's order numbers: not a secret, just unlikely to repeat.
_CHANCE = random.Random(16)  # noqa: S311


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
_STRIPE_TIME = re.compile(r"\d+/\d+ms")


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
        # Neither: no access line read, or ``-`` (the request ended before its Stripe
        # scope opened: its session could not be read while Redis was down).
        cached = [a for a in pages if a.stripe == "0"]
        waited = [a for a in pages if a.stripe and _STRIPE_TIME.fullmatch(a.stripe)]
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


def _recovery(seconds: float | None) -> str:
    return "not within 60 s" if seconds is None else f"{seconds:.1f}"
