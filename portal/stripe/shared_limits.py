"""Limits every worker of every host shares through Redis (each process keeps its own
without it): the account's Stripe call budget and each customer's Stripe-bound requests.
``portal.stripe.guard`` asks them before an attempt."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


#: A token bucket: KEYS[1] the bucket; ARGV rate per second, burst, longest wait (ms).
#: Returns the milliseconds to wait for the reserved token, or -1 (not taken).
_BUCKET_SCRIPT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local rate, burst, longest = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or burst
local at = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + (now - at) * rate / 1000)
local wait = 0
if tokens < 1 then wait = math.ceil((1 - tokens) * 1000 / rate) end
if wait > longest then return -1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 60000)
return wait
"""


#: The shared bucket's key in Redis (beside the cache's ``order-portal:`` keys).
BUDGET_KEY = "order-portal:stripe-budget"


class CallBudget:
    """Stripe's per-account rate as a token bucket (one second of burst).

    In Redis, every worker of every host draws from one bucket; without Redis (or while
    it is down) each process keeps its own, which cannot know about the others.
    """

    def __init__(self, per_second: float, redis: Redis | None) -> None:
        self._rate = per_second
        self._burst = max(1.0, per_second)
        self._script = redis.register_script(_BUCKET_SCRIPT) if redis is not None else None
        self._lock = threading.Lock()
        self._tokens = self._burst
        self._at = time.monotonic()

    def take(self, max_wait: float) -> bool:
        """Take a token, waiting up to ``max_wait`` seconds for it; ``False`` if spent."""
        longest = max(0, int(max_wait * 1000))
        wait_ms = self._take_shared(longest) if self._script is not None else None
        if wait_ms is None:
            wait_ms = self._take_local(longest)
        if wait_ms < 0:
            return False
        if wait_ms:
            time.sleep(wait_ms / 1000)
        return True

    def _take_shared(self, longest: int) -> int | None:
        assert self._script is not None
        try:
            args = [self._rate, self._burst, longest]
            return int(self._script(keys=[BUDGET_KEY], args=args))
        except RedisError as exc:
            log.warning("Stripe call budget kept per process: Redis unavailable (%s)", exc)
            return None

    def _take_local(self, longest: int) -> int:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            wait = 0 if self._tokens >= 1 else int((1 - self._tokens) * 1000 / self._rate) + 1
            if wait > longest:
                return -1
            self._tokens -= 1
            return wait


#: A customer's leases: KEYS[1] a sorted set of lease ids by expiry (ms).
#: ARGV cap, lease id, lease length (ms). Returns 1 when taken.
_TAKE_SLOT = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""


class CustomerSlots:
    """At most ``cap`` Stripe-bound requests at once per customer.

    In Redis, leases in a sorted set shared by all workers (a lease that a killed worker
    never gave back expires by itself); otherwise counted per process.
    """

    def __init__(self, cap: int, redis: Redis | None) -> None:
        self._cap = cap
        self._redis = redis
        self._script = redis.register_script(_TAKE_SLOT) if redis is not None else None
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    def take(self, customer: str | None, seconds: float) -> Callable[[], None] | None:
        """A slot for ``customer`` (held at most ``seconds``): the function that gives it
        back, or ``None`` when the customer is at the cap. Anonymous requests always pass."""
        if customer is None:
            return _nothing
        lease = self._take_shared(customer, seconds)
        if lease is None:
            return self._take_local(customer)
        if not lease:
            return None
        return lambda: self._give_back(customer, lease)

    def _take_shared(self, customer: str, seconds: float) -> str | None:
        """A lease id, ``""`` when the customer is at the cap, ``None`` without Redis."""
        if self._script is None:
            return None
        lease = uuid.uuid4().hex
        try:
            taken = self._script(
                keys=[f"order-portal:busy:{customer}"],
                args=[self._cap, lease, int(seconds * 1000)],
            )
        except RedisError:
            return None
        return lease if taken else ""

    def _give_back(self, customer: str, lease: str) -> None:
        assert self._redis is not None
        try:
            self._redis.zrem(f"order-portal:busy:{customer}", lease)
        except RedisError:
            pass  # the lease expires by itself

    def _take_local(self, customer: str) -> Callable[[], None] | None:
        with self._lock:
            if self._held.get(customer, 0) >= self._cap:
                return None
            self._held[customer] = self._held.get(customer, 0) + 1

        def give_back() -> None:
            with self._lock:
                self._held[customer] -= 1
                if not self._held[customer]:
                    del self._held[customer]

        return give_back


def _nothing() -> None:
    pass
