"""Between the portal and Stripe's API: every HTTP attempt the SDK makes passes here.

* **A time budget per request** (a deadline in a context variable, set when a customer's
  request starts): each attempt waits at most what is left of it, and no retry starts
  that could not finish in time. A slow Stripe then costs a page its budget, not
  3 attempts x the timeout.
* **Caps on Stripe-bound work**: per worker process (the threads beyond it get their
  stale copy or the 503 page at once, so health checks, webhooks and cached pages always
  find a free thread) and per customer (shared by every worker through Redis), so one
  customer cannot hold all the threads.
* **A circuit breaker** (``portal.stripe.breaker``): after several failures in a row
  (timeouts, connection errors, 5xx) Stripe is not asked for a few seconds; then one
  probe goes through, and its success closes the breaker again.
* **The account's call budget** (``portal.stripe.shared_limits``, beside the customers'
  caps): a token bucket, in Redis when configured so that every host shares Stripe's
  per-account rate limit.

A refusal is a :class:`Refused`, a ``stripe.APIConnectionError`` the SDK does not retry,
so ``client.call`` turns it into ``OrdersUnavailable`` like any outage: the customer gets
the cached copy with its time, else the 503 page.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import stripe
from redis import Redis

from portal import metrics
from portal.stripe.breaker import Breaker
from portal.stripe.shared_limits import CallBudget, CustomerSlots

#: The deadline (``time.monotonic()``) of the request being served, and the request.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "stripe_deadline", default=None
)
_request: contextvars.ContextVar[_Request | None] = contextvars.ContextVar(
    "stripe_request", default=None
)

#: An attempt with less time than this left is not started: it could not succeed.
MIN_ATTEMPT_SECONDS = 0.3
#: Budget for reading a whole history (filtered views, exports: one call per 100 orders).
HISTORY_BUDGET_SECONDS = 20
#: Stripe-bound requests one customer may have at once: a page and a download, not more.
CUSTOMER_CONCURRENCY = 2


class Refused(stripe.APIConnectionError):
    """Stripe was not asked: the breaker is open, a cap is reached or the budget spent."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Stripe not asked: {reason}", should_retry=False)
        self.reason = reason


@dataclass
class _Request:
    """One customer request: admitted once, at its first Stripe call, then all its calls
    (also those it makes at once from a pool) go; its slots are given back when it ends."""

    customer: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    admitted: bool = False
    on_end: list[Callable[[], None]] = field(default_factory=list)
    #: HTTP attempts made at Stripe, and the seconds they took, with those spent waiting
    #: for another request's read of the same orders (the access log's ``stripe=``).
    attempts: int = 0
    seconds: float = 0.0


@contextmanager
def request_scope(budget_seconds: float, customer: str | None) -> Iterator[None]:
    """Run a request with a Stripe time budget, on behalf of ``customer`` (a cache key)."""
    deadline = _deadline.set(time.monotonic() + budget_seconds)
    scope = _Request(customer)
    current = _request.set(scope)
    try:
        yield
    finally:
        _deadline.reset(deadline)
        _request.reset(current)
        for release in scope.on_end:
            release()


@contextmanager
def longer_budget(seconds: float) -> Iterator[None]:
    """Within a request, allow at least ``seconds`` from now (a whole history's reads)."""
    current = _deadline.get()
    if current is None:
        yield
        return
    token = _deadline.set(max(current, time.monotonic() + seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def spent() -> tuple[int, float]:
    """The current request's Stripe attempts so far and the seconds it spent on Stripe:
    in its own attempts and waiting for another request's read (:func:`count_wait`)."""
    scope = _request.get()
    if scope is None:
        return 0, 0.0
    with scope.lock:
        return scope.attempts, scope.seconds


def count_wait(seconds: float) -> None:
    """The current request waited ``seconds`` for another's Stripe read of the same orders
    (``portal.coalescing``): time on Stripe's account, though not an attempt of its own."""
    _add_to_request(0, seconds)


def _add_to_request(attempts: int, seconds: float) -> None:
    scope = _request.get()
    if scope is not None:
        with scope.lock:
            scope.attempts += attempts
            scope.seconds += seconds


def remaining() -> float | None:
    """Seconds left of the current request's Stripe budget; ``None`` outside a request."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


@dataclass(frozen=True)
class Limits:
    """How much Stripe-bound work is allowed (from the settings)."""

    #: Stripe-bound requests at once in one worker process.
    per_worker: int
    #: Stripe-bound requests at once for one customer (across workers with Redis).
    per_customer: int
    #: The account's calls per second (Stripe: 100 live, 25 sandbox), shared with Redis.
    calls_per_second: float
    #: Failures in a row that open the breaker, and how long it stays open.
    breaker_failures: int = 5
    breaker_seconds: float = 5.0


class StripeGuard:
    """The per-attempt decisions; one per app, shared by its threads."""

    def __init__(self, limits: Limits, redis: Redis | None, timeout: float) -> None:
        self._limits = limits
        self._timeout = timeout
        self._slots = threading.BoundedSemaphore(limits.per_worker)
        self._breaker = Breaker(limits.breaker_failures, limits.breaker_seconds)
        self._bucket = CallBudget(limits.calls_per_second, redis)
        self._customers = CustomerSlots(limits.per_customer, redis)

    @property
    def breaker(self) -> Breaker:
        return self._breaker

    @contextmanager
    def attempt(self) -> Iterator[float]:
        """Admit one HTTP attempt and yield its timeout, or raise :class:`Refused`."""
        timeout = self._attempt_timeout()
        scope = _request.get()
        if scope is not None:
            self._admit_request(scope)
            yield self._admit_call(timeout)
            return
        # Outside a request (a CLI command): the attempt holds a worker slot while it runs.
        if not self._slots.acquire(blocking=False):
            raise _refused("worker busy")
        try:
            yield self._admit_call(timeout)
        finally:
            self._slots.release()

    def _admit_request(self, scope: _Request) -> None:
        """At a request's first call: a worker slot and one of its customer's, held until
        the request ends; its later calls (also parallel ones) pass."""
        with scope.lock:
            if scope.admitted:
                return
            if not self._slots.acquire(blocking=False):
                raise _refused("worker busy")
            give_back = self._customers.take(scope.customer, HISTORY_BUDGET_SECONDS + 1)
            if give_back is None:
                self._slots.release()
                raise _refused("customer busy")
            scope.on_end += [self._slots.release, give_back]
            scope.admitted = True

    def _admit_call(self, timeout: float) -> float:
        if not self._bucket.take(max_wait=min(0.25, timeout - MIN_ATTEMPT_SECONDS)):
            raise _refused("call budget spent")
        # The breaker last: when it lets a probe through, that probe is an attempt made.
        if not self._breaker.admits():
            raise _refused("breaker open")
        return self._attempt_timeout()

    def _attempt_timeout(self) -> float:
        left = remaining()
        if left is None:
            return self._timeout
        if left < MIN_ATTEMPT_SECONDS:
            raise _refused("time budget spent")
        return min(self._timeout, left)

    def worth_retrying(self) -> bool:
        """Whether a retry could still finish within the request's budget."""
        left = remaining()
        return left is None or left >= MIN_ATTEMPT_SECONDS + stripe_retry_pause()

    def record(self, outcome: str) -> None:
        """Tell the breaker how an attempt went: ``ok``, ``failed`` or ``client_error``."""
        if outcome == "failed":
            self._breaker.failure()
        else:
            self._breaker.success()


def _refused(reason: str) -> Refused:
    metrics.STRIPE_REFUSED.labels(reason=reason).inc()
    return Refused(reason)


def stripe_retry_pause() -> float:
    """The SDK's first pause before a retry (``HTTPClient.INITIAL_DELAY``)."""
    return float(stripe.HTTPClient.INITIAL_DELAY)


class GuardedHttpClient(stripe.RequestsClient):
    """The SDK's requests-based HTTP client, with every attempt admitted by the guard.

    The SDK's retry loop calls ``request`` once per attempt and asks ``_should_retry``
    between them; both are overridden, and ``_timeout`` (read by each attempt) is the
    guard's, so the budget holds across the SDK's own retries.
    """

    def __init__(self, guard: StripeGuard, timeout: float) -> None:
        self._guard = guard
        self._local = threading.local()
        super().__init__(timeout=timeout)

    @property
    def _timeout(self) -> float:
        return float(getattr(self._local, "timeout", self._default_timeout))

    @_timeout.setter
    def _timeout(self, value: float) -> None:
        self._default_timeout = value

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        operation = _operation(method, url)
        with self._guard.attempt() as timeout:
            self._local.timeout = timeout
            started = time.monotonic()
            try:
                response = super().request(method, url, headers, post_data)
            except stripe.APIConnectionError:
                self._guard.record("failed")
                _observe(operation, "connection_error", started)
                raise
            finally:
                self._local.timeout = self._default_timeout
                _add_to_request(1, time.monotonic() - started)
        status = response[1]
        outcome = "failed" if status >= 500 else "ok" if status < 400 else "client_error"
        self._guard.record(outcome)
        _observe(operation, str(status), started)
        return response

    def _should_retry(
        self,
        response: Any,
        api_connection_error: stripe.APIConnectionError | None,
        num_retries: int,
        max_network_retries: int | None,
    ) -> bool:
        if not self._guard.worth_retrying():
            return False
        return bool(
            super()._should_retry(response, api_connection_error, num_retries, max_network_retries)
        )


def _observe(operation: str, outcome: str, started: float) -> None:
    metrics.STRIPE_CALLS.labels(operation=operation, outcome=outcome).inc()
    metrics.STRIPE_SECONDS.labels(operation=operation).observe(time.monotonic() - started)


def _operation(method: str, url: str) -> str:
    """``GET /v1/checkout/sessions/{id}``: ids become ``{id}``, so labels stay few."""
    path = url.split("://", 1)[-1].partition("/")[2].partition("?")[0]
    parts = path.split("/")
    named = parts[:1] + [p if re.fullmatch(r"[a-z_]+", p) else "{id}" for p in parts[1:]]
    return f"{method.upper()} /" + "/".join(named)
