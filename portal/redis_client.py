"""The one place a Redis client is made from ``PORTAL_CACHE_URL``.

The cache, the sessions, the rate limits and the Stripe guard all share the client made
here (one connection pool per worker process), so whatever the URL names — one server,
one server over TLS, or a Sentinel-watched master that may move — every part of the
portal follows it the same way:

* ``redis://host:6379/0``, ``rediss://host:6380/0`` (TLS), ``unix:///run/redis.sock?db=0``:
  redis-py's own URLs.
* ``redis+sentinel://[[user]:password@]host:26379[,host2:26379…]/service[/db]``: ask the
  Sentinels which server is the master of ``service`` and follow it through a failover
  (the credentials are sent to the Sentinels and to the master alike).

A failover is followed in two ways. redis-py asks the Sentinels on each new connection;
and :class:`MasterWatch` asks them at most once a second, so that connections opened to
the old master are dropped within a second of a failover: until the Sentinels demote
it (up to ten seconds), the old master still accepts writes that its successor will
never see. Webhooks are the writes that must not be lost that way: with Sentinel they
are acknowledged only once every replica the Sentinels count on has them
(:class:`ReplicaQuorum`, used by ``OrderCache.record_event``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from redis import Redis
from redis.exceptions import RedisError
from redis.sentinel import Sentinel, SentinelConnectionPool

log = logging.getLogger(__name__)

#: Schemes redis-py reads as they are.
PLAIN_SCHEMES = ("redis://", "rediss://", "unix://")
SENTINEL_SCHEME = "redis+sentinel://"

#: A Redis that does not answer within this is down for this request: sessions, the cache
#: and the limits each know what to do then (503 page, Stripe read, let through).
_TIMEOUTS: dict[str, Any] = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}

_SENTINEL_PORT = 26379
_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9.-]+))(?::(?P<port>\d+))?")
_SERVICE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_SENTINEL_SHAPE = "redis+sentinel://host:26379[,host2:26379…]/service[/db]"


@dataclass(frozen=True)
class SentinelAddress:
    """Where the Sentinels are, which master they watch, and how to log in to it."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None


def is_redis_url(url: str | None) -> bool:
    """Whether ``url`` names a Redis (shared by every worker and host) at all."""
    return bool(url) and str(url).startswith((*PLAIN_SCHEMES, SENTINEL_SCHEME))


def parse_sentinel_url(url: str) -> SentinelAddress:
    """Read a ``redis+sentinel://`` URL; ``ValueError`` says what is wrong (never the password)."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME.removesuffix("://"):
        raise ValueError(f"must be {_SENTINEL_SHAPE}")
    if parts.query or parts.fragment:
        raise ValueError(f"must be {_SENTINEL_SHAPE}, without ?… or #…")
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    sentinels = tuple(_sentinel(entry) for entry in hosts.split(","))
    service, *rest = parts.path.strip("/").split("/")
    if not _SERVICE.fullmatch(service):
        raise ValueError(f"must name the Sentinel service (master name): {_SENTINEL_SHAPE}")
    if len(rest) > 1 or (rest and not rest[0].isdigit()):
        raise ValueError(f"the database after the service must be a number: {_SENTINEL_SHAPE}")
    return SentinelAddress(
        sentinels=sentinels,
        service=service,
        db=int(rest[0]) if rest else 0,
        username=unquote(username) or None,
        password=unquote(password) or None,
    )


def make_redis(url: str) -> Redis:
    """The client for ``url`` (a URL :func:`is_redis_url` accepts); connects on first use."""
    if not url.startswith(SENTINEL_SCHEME):
        return Redis.from_url(url, **_TIMEOUTS)
    address = parse_sentinel_url(url)
    login: dict[str, Any] = {"username": address.username, "password": address.password}
    sentinel = Sentinel(
        address.sentinels, sentinel_kwargs={**_TIMEOUTS, **login}, **_TIMEOUTS, **login
    )
    return sentinel.master_for(address.service, db=address.db)


def is_sentinel_managed(client: Redis) -> bool:
    """Whether ``client`` reaches a master that the Sentinels may move (and that has
    replicas to fail over to)."""
    return isinstance(client.connection_pool, SentinelConnectionPool)


def ask_sentinels(client: Redis) -> None:
    """Ask the Sentinels where the master is now; connections to a former master close.

    A Sentinel that does not answer changes nothing here: the next command meets the
    same failure, and each part of the portal knows what to do then.
    """
    pool = client.connection_pool
    if not isinstance(pool, SentinelConnectionPool):
        return
    try:
        pool.get_master_address()
    except (RedisError, OSError) as exc:
        log.warning("Redis Sentinels not answering (%s)", type(exc).__name__)


class MasterWatch:
    """Follows a failover within about a second: :meth:`check` runs before each request
    and asks the Sentinels at most once per ``every`` seconds (per worker process)."""

    def __init__(self, client: Redis, every: float = 1.0) -> None:
        self._client = client
        self._every = every
        self._lock = threading.Lock()
        self._next = 0.0

    def check(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return
            self._next = now + self._every
        ask_sentinels(self._client)


class ReplicaQuorum:
    """How many replicas must confirm a webhook's change before it is acknowledged.

    Every replica the Sentinels list for the master that is up and still replicating
    (at least one). One is not enough: a failover starts by promoting a replica, and
    until the Sentinels move the other replica to it (about a second), the old master
    still takes writes and that other replica still confirms them; it then resyncs
    from the promoted one and they are gone. The promoted replica is still listed as a
    replica of the old master then, so counting it makes such writes fail (503, Stripe
    delivers again). A replica the Sentinels have marked down no longer counts, so one
    of two may be lost. Asked at most once per ``every`` seconds (per worker process).
    """

    def __init__(self, client: Redis, every: float = 1.0) -> None:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        self._sentinels = pool.sentinel_manager.sentinels
        self._service = pool.service_name
        self._every = every
        self._lock = threading.Lock()
        self._next = 0.0
        self._required = 1

    def required(self) -> int:
        """The number of replicas ``WAIT`` must report (the last answer if none answers)."""
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                return self._required
            self._next = now + self._every
        for sentinel in self._sentinels:
            try:
                replicas = sentinel.sentinel_slaves(self._service)
            except (RedisError, OSError):
                continue
            counted = sum(_replicating(replica) for replica in replicas)
            self._required = max(1, counted)
            break
        return self._required


def _replicating(replica: dict[str, Any]) -> bool:
    """Whether a Sentinel's entry for a replica says it is up and acting as one."""
    down = replica.get("is_sdown") or replica.get("is_odown") or replica.get("is_disconnected")
    return not down and replica.get("role-reported") == "slave"


def _sentinel(entry: str) -> tuple[str, int]:
    match = _HOST.fullmatch(entry.strip())
    if match is None:
        raise ValueError(f"each Sentinel must be host or host:port: {_SENTINEL_SHAPE}")
    port = int(match["port"] or _SENTINEL_PORT)
    if not 0 < port < 65536:
        raise ValueError(f"a Sentinel port must be 1 to 65535: {_SENTINEL_SHAPE}")
    return (match["ipv6"] or match["host"], port)
