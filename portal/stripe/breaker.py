"""The circuit breaker between a worker and Stripe (``portal.stripe.guard`` asks it)."""

from __future__ import annotations

import logging
import threading
import time

from portal import metrics

log = logging.getLogger(__name__)


class Breaker:
    """Opens after ``failures`` failed attempts in a row; after ``seconds`` one probe.

    Per worker process, on purpose: it needs no Redis round trip per call, and with W
    workers a failing Stripe sees at most W x ``failures`` attempts before every one is
    open, then W probes every ``seconds``. (pybreaker 1.4 holds a lock around the
    guarded call itself, which would let one thread at a time talk to Stripe.)
    """

    def __init__(self, failures: int, seconds: float) -> None:
        self._threshold = failures
        self._seconds = seconds
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (a probe may go or is under way)."""
        with self._lock:
            if self._opened_at is None:
                return "closed"
            waited = time.monotonic() - self._opened_at >= self._seconds
            return "half_open" if waited or self._probing else "open"

    def admits(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or time.monotonic() - self._opened_at < self._seconds:
                return False
            self._probing = True  # this caller is the probe
            return True

    def success(self) -> None:
        with self._lock:
            if self._opened_at is not None:
                log.warning("Stripe answers again: breaker closed")
            self._failures, self._opened_at, self._probing = 0, None, False
            metrics.BREAKER_OPEN.set(0)

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or (self._opened_at is None and self._failures >= self._threshold):
                if self._opened_at is None:
                    log.error(
                        "Stripe failed %s times in a row: breaker open, not asked for %ss",
                        self._failures,
                        self._seconds,
                    )
                self._opened_at, self._probing = time.monotonic(), False
                metrics.BREAKER_OPEN.set(1)
