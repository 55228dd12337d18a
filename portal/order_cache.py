"""A shared cache of what Stripe said, kept fresh by Stripe's webhooks.

Entries never become wrong state: a webhook only marks an email's list or a session's
detail as invalidated, and the next view reads Stripe again. Each entry remembers when its
read *started*, so an answer that raced a webhook counts as older than the invalidation.
When Stripe cannot answer, a copy no older than the stale limit is served with its time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from cachelib.base import BaseCache
from redis.exceptions import RedisError

from portal.domain import OrdersUnavailable, normalize_email

log = logging.getLogger(__name__)

#: How long an event id is remembered: Stripe retries a delivery for up to three days.
EVENT_MEMORY = 3 * 86400

#: Record the event (KEYS[1]) unless seen, and only then mark its orders (KEYS[2..]).
_RECORD_AND_MARK = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[3]) end
return 1
"""

T = TypeVar("T")


@dataclass(frozen=True)
class Served(Generic[T]):
    """A value for a view, and when it is an older copy served during an outage, its time."""

    value: T
    stale_as_of: datetime | None = None


@dataclass(frozen=True)
class _Entry:
    value: Any
    read_at: float


class OrderCache:
    """Order lists per email (per page) and order details per session."""

    def __init__(self, backend: BaseCache, *, ttl: int, stale: int) -> None:
        self._backend = backend
        self._ttl = ttl
        self._stale = stale
        # Registering makes no round trip; the script is sent to Redis on its first use.
        client = getattr(backend, "_write_client", None)
        self._record_and_mark = client.register_script(_RECORD_AND_MARK) if client else None

    def order_list(self, email: str, page: int, read: Callable[[], T]) -> Served[T]:
        """Page ``page`` of ``email``'s orders, from the cache when fresh."""
        owner = email_key(email)
        return self._through(f"list:{owner}:{page}", f"inv:{owner}", read)

    def order_history(self, email: str, read: Callable[[], T]) -> Served[T]:
        """All of ``email``'s orders (filtered views, exports), from the cache when fresh."""
        owner = email_key(email)
        return self._through(f"history:{owner}", f"inv:{owner}", read)

    def order_detail(self, session_id: str, read: Callable[[], T]) -> Served[T]:
        """One session's order, from the cache when fresh. ``None`` is never cached."""
        return self._through(f"detail:{session_id}", f"inv:{session_id}", read)

    def invalidate(self, *, email: str | None = None, session_id: str | None = None) -> None:
        """Mark the email's list and the session's detail as changed at Stripe."""
        now = time.time()
        marks = dict.fromkeys(self._marks(email, session_id), now)
        if marks:
            self._safely(lambda: self._backend.set_many(marks, timeout=self._stale))

    @staticmethod
    def _marks(email: str | None, session_id: str | None) -> list[str]:
        marks = [f"inv:{email_key(email)}"] if email else []
        return marks + ([f"inv:{session_id}"] if session_id else [])

    def first_time(self, event_id: str) -> bool:
        """Whether this event id has not been handled yet (then it is recorded)."""
        return self.first_time_invalidating(event_id, email=None, session_id=None)

    def first_time_invalidating(
        self, event_id: str, *, email: str | None, session_id: str | None
    ) -> bool:
        """``first_time``, then ``invalidate`` if it was: on Redis one atomic round trip.

        Webhook throughput is bound by round trips to the cache, and a Checkout Session
        event (the common one) needs nothing else. A cache that is down answers "first
        time": an event must never be dropped.
        """
        script = self._record_and_mark
        if script is None:
            added = self._safely(lambda: self._backend.add(f"evt:{event_id}", 1, EVENT_MEMORY))
            if added is not False:
                self.invalidate(email=email, session_id=session_id)
            return added is not False
        prefix = self._backend._get_prefix()  # type: ignore[attr-defined]
        keys = [f"{prefix}evt:{event_id}"]
        keys += [f"{prefix}{mark}" for mark in self._marks(email, session_id)]
        now = self._backend.serializer.dumps(time.time())  # type: ignore[attr-defined]
        done = self._safely(lambda: script(keys=keys, args=[EVENT_MEMORY, now, self._stale]))
        return done != 0

    def forget(self, event_id: str) -> None:
        """Un-record an event whose handling failed, so Stripe's retry acts on it."""
        self._safely(lambda: self._backend.delete(f"evt:{event_id}"))

    def _through(self, key: str, invalidation_key: str, read: Callable[[], T]) -> Served[T]:
        found = self._safely(lambda: self._backend.get_many(key, invalidation_key))
        entry, invalidated_at = found if found else (None, None)
        now = time.time()
        if isinstance(entry, _Entry) and self._fresh(entry, invalidated_at, now):
            return Served(entry.value)
        try:
            value = read()
        except OrdersUnavailable:
            if isinstance(entry, _Entry) and now - entry.read_at < self._stale:
                as_of = datetime.fromtimestamp(entry.read_at, tz=UTC)
                return Served(entry.value, stale_as_of=as_of)
            raise
        if value is not None:
            stored = _Entry(value, now)
            self._safely(lambda: self._backend.set(key, stored, timeout=self._stale))
        return Served(value)

    def _fresh(self, entry: _Entry, invalidated_at: Any, now: float) -> bool:
        if isinstance(invalidated_at, int | float) and entry.read_at <= invalidated_at:
            return False
        return now - entry.read_at < self._ttl

    def _safely(self, operation: Callable[[], Any]) -> Any:
        # A cache that is down must not take the portal down: read Stripe instead.
        try:
            return operation()
        except (RedisError, OSError) as exc:
            log.warning("order cache unavailable, reading Stripe (%s)", type(exc).__name__)
            return None


def email_key(email: str) -> str:
    """Cache keys hold a hash of the normalized email, never the email itself."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:40]


def make_backend(url: str | None) -> BaseCache:
    """The cache store named by ``PORTAL_CACHE_URL``: in-process, a directory, or Redis."""
    from cachelib import FileSystemCache, RedisCache, SimpleCache

    if not url or url == "memory://":
        return SimpleCache(threshold=20_000)
    if url.startswith("file://"):
        return FileSystemCache(url.removeprefix("file://"), threshold=20_000)
    import redis

    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return RedisCache(host=client, key_prefix="order-portal:")


def check_backend(backend: BaseCache) -> None:
    """Raise ``ConnectionError`` when a Redis backend does not answer (run at start-up)."""
    client = getattr(backend, "_write_client", None)
    if client is None:
        return
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        raise ConnectionError(f"Redis is not answering ({type(exc).__name__})") from exc
