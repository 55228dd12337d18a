"""Webhook delivery: each event signed as Stripe signs it and POSTed to every endpoint.

Each endpoint has its own outbox drained by a background thread, so a slow or dead
endpoint neither blocks the buyer's page nor delays the other endpoints, and one
endpoint receives events in the order they happened. A delivery is tried up to
``ATTEMPTS`` times (Stripe retries any answer that is not 2xx).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import requests

from portal.devstack.stripe_emulator.objects import API_VERSION, Json

log = logging.getLogger(__name__)

ATTEMPTS = 3
#: Pause before the 2nd and 3rd attempt (Stripe waits hours; tests can't).
BACKOFF_SECONDS = (0.2, 0.5)
TIMEOUT_SECONDS = 5.0


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` exactly as Stripe makes it: ``t=…,v1=hex(hmac_sha256)``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


@dataclass(frozen=True)
class Endpoint:
    """A webhook endpoint, as a Stripe account has them."""

    url: str
    #: Its signing secret (``whsec_…``).
    secret: str
    #: The API version its events say they were rendered with: at Stripe, the one chosen
    #: when the endpoint was created (the account's default unless given). The emulator
    #: renders objects in the pinned version's shape whatever this says.
    api_version: str = API_VERSION


@dataclass
class SentEvent:
    """An event and how its delivery to each endpoint went."""

    #: The event as the pinned API version renders it.
    event: Json
    #: Per endpoint URL, the exact bytes it receives (and the signature covers): the event
    #: with that endpoint's ``api_version``.
    payloads: dict[str, bytes]
    #: Endpoint URLs still to be tried.
    pending: set[str]
    #: Per endpoint URL, the last attempt's HTTP status (``"200"``) or error name.
    results: dict[str, str] = field(default_factory=dict)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if not self.pending:
            self._done.set()

    @property
    def delivered(self) -> bool:
        """Whether every endpoint answered 2xx."""
        with self._lock:
            return not self.pending and all(r.startswith("2") for r in self.results.values())

    def wait(self, timeout: float) -> bool:
        """Block until every endpoint has had all its attempts; ``False`` on timeout."""
        return self._done.wait(timeout)

    def finished(self, url: str, result: str) -> None:
        """Record ``url``'s outcome (called by its outbox's thread)."""
        with self._lock:
            self.results[url] = result
            self.pending.discard(url)
            if not self.pending:
                self._done.set()


class Outbox:
    """One webhook endpoint's queue, drained in order by a thread while it has work."""

    def __init__(self, url: str, secret: str) -> None:
        self.url = url
        self._secret = secret
        self._queue: deque[SentEvent] = deque()
        self._lock = threading.Lock()
        self._draining = False

    def post(self, sent: SentEvent) -> None:
        """Queue ``sent`` for this endpoint; returns at once."""
        with self._lock:
            self._queue.append(sent)
            if self._draining:
                return
            self._draining = True
        threading.Thread(target=self._drain, name=f"webhooks {self.url}", daemon=True).start()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._draining = False
                    return
                sent = self._queue.popleft()
            sent.finished(self.url, self._deliver(sent.payloads[self.url]))

    def _deliver(self, payload: bytes) -> str:
        result = "not sent"
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(BACKOFF_SECONDS[attempt - 1])
            result = self._attempt(payload)
            if result.startswith("2"):
                break
        return result

    def _attempt(self, payload: bytes) -> str:
        try:
            answer = requests.post(
                self.url,
                data=payload,
                timeout=TIMEOUT_SECONDS,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": signature_header(payload, self._secret),
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
            )
        except requests.RequestException as exc:
            log.warning("webhook to %s failed: %s", self.url, type(exc).__name__)
            return type(exc).__name__
        return str(answer.status_code)
