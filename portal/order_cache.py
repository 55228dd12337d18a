"""A shared cache of what Stripe said, kept fresh by Stripe's webhooks.

Entries never become wrong state: a webhook only marks an email's list or a session's
detail as invalidated, and the next view reads Stripe again. Each entry remembers when its
read *started*, so an answer that raced a webhook counts as older than the invalidation.
When Stripe cannot answer, a copy no older than the stale limit is served with its time.

Reads fall back to Stripe when the cache is down; writes that acknowledge a webhook do
not: they raise :class:`CacheUnavailable`, so the webhook answers 503 and Stripe retries.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from cachelib.base import BaseCache
from redis.exceptions import RedisError

from portal import metrics
from portal.cache_store import check_backend, redis_of
from portal.coalescing import Coalescer
from portal.domain import (
    Order,
    OrderHistory,
    OrderPage,
    OrdersUnavailable,
    PortalError,
    normalize_email,
)
from portal.redis_client import ReplicaQuorum, ask_sentinels, is_sentinel_managed

log = logging.getLogger(__name__)

#: How long an event id is remembered: Stripe retries a delivery for up to three days.
EVENT_MEMORY = 3 * 86400

#: How long a webhook waits for the Redis replicas to confirm its change (with Sentinel).
REPLICA_WAIT_MS = 250

#: Record the event (KEYS[1]) unless seen, and only then mark its orders (KEYS[2..]).
_RECORD_AND_MARK = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2], 'EX', ARGV[3]) end
return 1
"""

T = TypeVar("T")


class CacheUnavailable(PortalError):
    """The cache could not store what a webhook must leave behind (Stripe will retry)."""


@dataclass(frozen=True)
class Served(Generic[T]):
    """A value for a view, and when it is an older copy served during an outage, its time."""

    value: T
    stale_as_of: datetime | None = None


@dataclass(frozen=True)
class _Entry:
    value: Any
    read_at: float
    #: The Redis server (its ``run_id``) that stored the entry; see ``_on_connect``.
    server: str = ""


class OrderCache:
    """Order lists per email (per page) and order details per session."""

    def __init__(self, backend: BaseCache, *, ttl: int, stale: int) -> None:
        self._backend = backend
        self._ttl = ttl
        self._stale = stale
        # Registering makes no round trip; the script is sent to Redis on its first use.
        client = redis_of(backend)
        self._client = client
        self._record_and_mark = client.register_script(_RECORD_AND_MARK) if client else None
        # Behind Sentinel a replica may become the master at any moment (see record_event).
        self._replicas = (
            ReplicaQuorum(client) if client is not None and is_sentinel_managed(client) else None
        )
        self._readers = Coalescer(client)
        self._server = ""
        if client is not None:
            client.connection_pool.connection_kwargs["redis_connect_func"] = self._on_connect

    def _on_connect(self, connection: Any) -> None:
        """Note which Redis server answers, on every new connection.

        A Redis restarted from its append-only file can come back without its last
        writes — ``appendfsync everysec`` acknowledges before the disk has them — and so
        without an invalidation whose webhook was acknowledged. Entries stored before a
        restart (or a Sentinel failover) therefore count as stale copies, never as fresh:
        one more Stripe read each, and nothing acknowledged is lost.
        """
        connection.on_connect()
        connection.send_command("INFO", "server")
        info = connection.read_response()
        text = info.decode() if isinstance(info, bytes) else str(info)
        found = re.search(r"^run_id:(\w+)", text, re.MULTILINE)
        self._server = found.group(1) if found else ""

    def order_list(self, email: str, page: int, read: Callable[[], T]) -> Served[T]:
        """Page ``page`` of ``email``'s orders, from the cache when fresh."""
        owner = email_key(email)
        return self._through(f"list:{owner}:{page}", f"inv:{owner}", read)

    def peek_list(self, email: str, page: int) -> Any:
        """Page ``page`` of ``email``'s orders if cached and fresh, else ``None``; never reads."""
        owner = email_key(email)
        key = f"list:{owner}:{page}"
        entry, invalidated_at = self._lookup(key, f"inv:{owner}")
        fresh = isinstance(entry, _Entry) and self._fresh(key, entry, invalidated_at)
        return entry.value if fresh else None

    def order_history(self, email: str, read: Callable[[], T], part: str = "") -> Served[T]:
        """All of ``email``'s orders (filtered views, exports), or the ``part`` of them
        that was asked for (a date range), from the cache when fresh."""
        owner = email_key(email)
        return self._through(f"history:{owner}{part}", f"inv:{owner}", read)

    def order_detail(
        self, session_id: str, read: Callable[[], T], *, max_age: int | None = None
    ) -> Served[T]:
        """One session's order, from the cache when fresh (younger than ``max_age``
        seconds if given, else the TTL, and not invalidated). ``None`` is never cached."""
        return self._through(f"detail:{session_id}", f"inv:{session_id}", read, max_age)

    def files_ready(
        self, order_ids: list[str], check: Callable[[list[str]], dict[str, bool | None]]
    ) -> dict[str, bool | None]:
        """Whether each order's files are in S3, asking ``check`` only about those not
        known: "ready" is kept for the stale limit (files stay), "not yet" for the TTL."""
        keys = [f"ready:{order_id}" for order_id in order_ids]
        found = (self._safely(lambda: self._backend.get_many(*keys)) if keys else None) or []
        known: dict[str, bool | None] = {
            order_id: value
            for order_id, value in zip(order_ids, found, strict=False)
            if isinstance(value, bool)
        }
        missing = [order_id for order_id in order_ids if order_id not in known]
        if missing:
            answers = check(missing)
            ready = {f"ready:{i}": True for i, value in answers.items() if value is True}
            waiting = {f"ready:{i}": False for i, value in answers.items() if value is False}
            # A timeout of 0 means "forever" to the cache backends: 0 here means "not at all".
            if ready and self._stale > 0:
                self._safely(lambda: self._backend.set_many(ready, timeout=self._stale))
            if waiting and self._ttl > 0:
                self._safely(lambda: self._backend.set_many(waiting, timeout=self._ttl))
            known.update(answers)
        return known

    def invalidate(self, *, email: str | None = None, session_id: str | None = None) -> None:
        """Mark the email's list and the session's detail as changed at Stripe.

        Raises :class:`CacheUnavailable` when the marks cannot be written.
        """
        self._write_marks(_marks(email, session_id))

    def seen(self, event_id: str) -> bool:
        """Whether this event id was handled already. Raises :class:`CacheUnavailable`."""
        return bool(self._checked(lambda: self._backend.has(f"evt:{event_id}")))

    def record_event(
        self,
        event_id: str,
        *,
        email: str | None = None,
        session_id: str | None = None,
        payment_intent: str | None = None,
    ) -> bool:
        """Record the event and mark the orders it changes; ``False`` if it was seen before.

        Both are stored (on Redis in one atomic round trip) or this raises
        :class:`CacheUnavailable`: a webhook may be acknowledged only once its effect is
        stored, because Stripe never delivers an acknowledged event again. A refund names
        a payment intent, not an order: the cached orders it paid for are found in the
        index that caching them wrote, without asking Stripe.
        """
        marks = _marks(email, session_id)
        if payment_intent:
            marks += self._marks_for_payment_intent(payment_intent)
        script = self._record_and_mark
        if script is None:
            return self._record_without_script(event_id, marks)
        prefix = self._backend._get_prefix()  # type: ignore[attr-defined]
        keys = [f"{prefix}evt:{event_id}"] + [f"{prefix}{mark}" for mark in marks]
        now = self._backend.serializer.dumps(time.time())  # type: ignore[attr-defined]
        args = [EVENT_MEMORY, now, self._stale]
        if self._replicas is not None:
            return self._record_on_the_replicas(script, keys, args, self._replicas.required())
        return bool(self._checked(lambda: script(keys=keys, args=args)))

    def _record_on_the_replicas(
        self, script: Any, keys: list[str], args: list[Any], needed: int
    ) -> bool:
        """Record as :meth:`record_event` does, and return only once ``needed`` replicas
        have it (:class:`~portal.redis_client.ReplicaQuorum` says how many).

        A Sentinel failover promotes a replica and leaves the old master accepting writes
        until the Sentinels demote it (up to ten seconds); what it took meanwhile is
        gone once it follows its successor. ``WAIT`` on the same connection as the write
        says how many replicas have it: if too few do within ``REPLICA_WAIT_MS`` (a
        replica is down, or this is a master being replaced), the webhook is not
        acknowledged and Stripe delivers it again, by when the Sentinels have been asked.
        """
        client = self._client
        assert client is not None

        def record_and_wait() -> list[Any]:
            with client.pipeline(transaction=False) as pipe:
                script(keys=keys, args=args, client=pipe)
                pipe.wait(needed, REPLICA_WAIT_MS)
                return pipe.execute()

        recorded, replicas = self._checked(record_and_wait)
        if replicas < needed:
            ask_sentinels(client)
            raise CacheUnavailable(
                f"{replicas} of {needed} Redis replicas confirmed it within {REPLICA_WAIT_MS} ms"
            )
        return bool(recorded)

    def _record_without_script(self, event_id: str, marks: list[str]) -> bool:
        key = f"evt:{event_id}"
        if not self._checked(lambda: self._backend.add(key, 1, EVENT_MEMORY)):
            # cachelib's file store also answers False when it could not write the file.
            if self._checked(lambda: self._backend.has(key)):
                return False
            raise CacheUnavailable("event not recorded")
        try:
            self._write_marks(marks)
        except CacheUnavailable:
            self._safely(lambda: self._backend.delete(key))
            raise
        return True

    def _marks_for_payment_intent(self, payment_intent: str) -> list[str]:
        """The marks of every cached order paid by ``payment_intent``.

        The refund's own mark is written *before* the index is read; ``_store`` writes the
        index *before* it reads the refund marks. Whichever runs second sees the other, so
        an order read from Stripe while its refund arrives is never kept as fresh.
        """
        now = time.time()
        self._checked(lambda: self._backend.set(f"inv:pi:{payment_intent}", now, self._stale))
        indexed = self._checked(lambda: self._backend.get(f"pi:{payment_intent}"))
        return list(indexed) if isinstance(indexed, list) else []

    def _write_marks(self, marks: list[str]) -> None:
        stamped = dict.fromkeys(marks, time.time())
        if stamped:
            written = self._checked(lambda: self._backend.set_many(stamped, timeout=self._stale))
            if len(written) != len(stamped):
                raise CacheUnavailable("invalidation not written")

    def check(self) -> None:
        """Raise ``ConnectionError`` when the cache's Redis does not answer."""
        check_backend(self._backend)

    def _through(
        self, key: str, invalidation_key: str, read: Callable[[], T], max_age: int | None = None
    ) -> Served[T]:
        kind = key.partition(":")[0]
        entry, invalidated_at = self._lookup(key, invalidation_key)
        if isinstance(entry, _Entry) and self._fresh(key, entry, invalidated_at, max_age):
            metrics.CACHE_READS.labels(kind=kind, result="hit").inc()
            return Served(entry.value)
        try:
            with self._readers.turn(key) as waited:
                if waited:  # another reader went first: its answer is likely cached now
                    entry, invalidated_at = self._lookup(key, invalidation_key)
                    if isinstance(entry, _Entry) and self._fresh(
                        key, entry, invalidated_at, max_age
                    ):
                        metrics.CACHE_READS.labels(kind=kind, result="coalesced").inc()
                        return Served(entry.value)
                started = time.time()
                value = read()
                if value is not None:
                    # Stored before the turn passes on, so the next in line finds it.
                    self._safely(lambda: self._store(key, _Entry(value, started, self._server)))
        except OrdersUnavailable:
            if isinstance(entry, _Entry) and time.time() - entry.read_at < self._stale:
                metrics.CACHE_READS.labels(kind=kind, result="stale").inc()
                as_of = datetime.fromtimestamp(entry.read_at, tz=UTC)
                return Served(entry.value, stale_as_of=as_of)
            metrics.CACHE_READS.labels(kind=kind, result="unavailable").inc()
            raise
        metrics.CACHE_READS.labels(kind=kind, result="miss").inc()
        return Served(value)

    def _lookup(self, key: str, invalidation_key: str) -> tuple[Any, Any]:
        found = self._safely(lambda: self._backend.get_many(key, invalidation_key))
        return (found[0], found[1]) if found else (None, None)

    def _store(self, key: str, entry: _Entry) -> None:
        """Keep ``entry`` unless one of its orders was refunded since its read started.

        First the index (payment intent -> the marks of the order's list and detail), so
        a refund webhook can find this entry; then the refunds' marks, see
        ``_marks_for_payment_intent``.
        """
        index = {
            f"pi:{order.payment_intent}": _marks(order.email or None, order.session_id)
            for order in _orders_in(entry.value)
            if order.payment_intent
        }
        if index:
            self._backend.set_many(index, timeout=self._stale)
            refunds = self._backend.get_many(*(f"inv:{name}" for name in index))
            if any(isinstance(t, int | float) and t >= entry.read_at for t in refunds):
                return
        self._backend.set(key, entry, timeout=self._stale)

    def _fresh(
        self, key: str, entry: _Entry, invalidated_at: Any, max_age: int | None = None
    ) -> bool:
        if isinstance(invalidated_at, int | float) and entry.read_at <= invalidated_at:
            return False
        if entry.server != self._server:
            return False  # stored before Redis restarted: its invalidations may be lost
        limit = self._ttl * _jitter(key, entry.read_at) if max_age is None else max_age
        return time.time() - entry.read_at < limit

    def _safely(self, operation: Callable[[], Any]) -> Any:
        # A cache that is down must not take the portal down: read Stripe instead.
        try:
            return operation()
        except (RedisError, OSError) as exc:
            log.warning("order cache unavailable, reading Stripe (%s)", type(exc).__name__)
            return None

    @staticmethod
    def _checked(operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(f"cache unavailable ({type(exc).__name__})") from exc


def _jitter(key: str, read_at: float) -> float:
    """From 0.8 to 1.0, fixed for one entry: entries filled together do not expire together
    (200 customers warmed at once would otherwise all ask Stripe again in one second)."""
    return 0.8 + 0.2 * (zlib.crc32(f"{key}@{read_at}".encode()) % 1000) / 1000


def _marks(email: str | None, session_id: str | None) -> list[str]:
    marks = [f"inv:{email_key(email)}"] if email else []
    return marks + ([f"inv:{session_id}"] if session_id else [])


def _orders_in(value: object) -> Iterable[Order]:
    if isinstance(value, Order):
        return (value,)
    if isinstance(value, OrderPage | OrderHistory):
        return value.orders
    if isinstance(value, tuple):
        return (order for order in value if isinstance(order, Order))
    return ()


def email_key(email: str) -> str:
    """Cache keys hold a hash of the normalized email, never the email itself."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()[:40]
