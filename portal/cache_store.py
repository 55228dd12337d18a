"""The store behind the order cache, as ``PORTAL_CACHE_URL`` names it: in-process, a
directory, or Redis (whose client, from ``portal.redis_client``, the sessions, the rate
limits and the Stripe guard share)."""

from __future__ import annotations

from cachelib import FileSystemCache, RedisCache, SimpleCache
from cachelib.base import BaseCache
from redis import Redis
from redis.exceptions import RedisError

from portal.redis_client import is_redis_url, make_redis


def make_backend(url: str | None) -> BaseCache:
    """The cache store named by ``PORTAL_CACHE_URL``: in-process, a directory, or Redis."""
    if is_redis_url(url):
        return RedisCache(host=make_redis(str(url)), key_prefix="order-portal:")
    if url and url.startswith("file://"):
        return FileSystemCache(url.removeprefix("file://"), threshold=20_000)
    return SimpleCache(threshold=20_000)


def redis_of(backend: BaseCache) -> Redis | None:
    """The Redis client behind a Redis backend, for others sharing it; else ``None``."""
    client = getattr(backend, "_write_client", None)
    return client if isinstance(client, Redis) else None


def check_backend(backend: BaseCache) -> None:
    """Raise ``ConnectionError`` when a Redis backend does not answer (run at start-up)."""
    client = redis_of(backend)
    if client is None:
        return
    try:
        client.ping()
    except (RedisError, OSError) as exc:
        raise ConnectionError(f"Redis is not answering ({type(exc).__name__})") from exc
