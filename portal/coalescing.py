"""Identical concurrent reads made once: per key across threads, and with Redis across
worker processes and hosts.

Ten customers' tabs (or ten exports) that miss the cache for the same key at once would
each ask Stripe. Here the first becomes the reader and the others wait their turn; when
their turn comes they look in the cache again, where the reader left the answer. Waiting
is bounded by the request's Stripe budget: a caller that cannot get its turn in time gets
:class:`OrdersUnavailable` (so its cached copy, or the 503 page) instead of queueing.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from redis.exceptions import RedisError

from portal.domain import OrdersUnavailable
from portal.stripe.guard import count_wait, remaining

#: How long a caller outside a request (a CLI command, a test) waits for its turn.
DEFAULT_WAIT_SECONDS = 10.0
#: How often a caller waiting on another process's read looks again.
POLL_SECONDS = 0.05

#: Delete the lock only if it is still ours (it may have expired and been taken since).
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Coalescer:
    """One reader per key at a time; the others wait and then use what it cached."""

    def __init__(self, redis: Redis | None, prefix: str = "order-portal:reading:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._release = redis.register_script(_RELEASE) if redis is not None else None
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def turn(self, key: str) -> Iterator[bool]:
        """Hold ``key``'s turn; yield whether another reader went first (look again)."""
        wait = remaining()
        started = time.monotonic()
        deadline = started + (DEFAULT_WAIT_SECONDS if wait is None else max(0.0, wait))
        had_turn = False
        try:
            with self._local_turn(key, deadline) as waited_here:
                with self._shared_turn(key, deadline) as waited_elsewhere:
                    had_turn = True
                    if waited_here or waited_elsewhere:
                        count_wait(time.monotonic() - started)
                    yield waited_here or waited_elsewhere
        except OrdersUnavailable:
            if not had_turn:  # gave up waiting: that time too was spent on another's read
                count_wait(time.monotonic() - started)
            raise

    @contextmanager
    def _local_turn(self, key: str, deadline: float) -> Iterator[bool]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            waited = not lock.acquire(blocking=False)
            if waited and not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                raise OrdersUnavailable("another read of the same orders took too long")
            try:
                yield waited
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)

    @contextmanager
    def _shared_turn(self, key: str, deadline: float) -> Iterator[bool]:
        if self._redis is None:
            yield False
            return
        name, token, waited = self._prefix + key, uuid.uuid4().hex, False
        hold_ms = max(1, int((deadline - time.monotonic() + 1) * 1000))
        try:
            while not self._redis.set(name, token, nx=True, px=hold_ms):
                if time.monotonic() + POLL_SECONDS > deadline:
                    raise OrdersUnavailable("another read of the same orders took too long")
                waited = True
                time.sleep(POLL_SECONDS)
        except RedisError:
            yield waited  # without Redis, coalesce within this process only
            return
        try:
            yield waited
        finally:
            try:
                assert self._release is not None
                self._release(keys=[name], args=[token])
            except RedisError:
                pass  # the lock expires by itself
