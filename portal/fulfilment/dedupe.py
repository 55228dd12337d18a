"""Remembering what was already told, in the shared cache, so it is told once.

``portal watch`` may run from cron on several hosts, and webhooks raise the same alerts: a
claim is Redis's ``SET NX`` (cachelib's ``add``), so of two runs that find the same
problem exactly one tells it. A claim is given back when telling failed, so the next run
tries again.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cachelib.base import BaseCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: How long an alert or a mail is remembered: longer than any order is watched.
MEMORY_SECONDS = 90 * 86400
#: Longest one watch run may hold the run lock (it is released when the run ends).
RUN_LOCK_SECONDS = 15 * 60


class CacheUnavailable(RuntimeError):
    """The shared cache did not answer: nothing can be told once, so nothing is told."""


class Once:
    """Claims in the shared cache: ``claim`` is true for exactly one caller per key."""

    def __init__(self, backend: BaseCache) -> None:
        self._backend = backend

    def claim(self, key: str, seconds: int = MEMORY_SECONDS) -> bool:
        """Whether this caller is the first to claim ``key`` (then it must act)."""
        return bool(self._call(lambda: self._backend.add(f"once:{key}", 1, timeout=seconds)))

    def release(self, key: str) -> None:
        """Give a claim back (acting failed), so a later caller acts."""
        self._call(lambda: self._backend.delete(f"once:{key}"))

    def claimed(self, key: str) -> bool:
        """Whether ``key`` was claimed (for ``portal lookup``)."""
        return bool(self._call(lambda: self._backend.has(f"once:{key}")))

    def since(self, key: str) -> datetime:
        """When ``key`` was first asked about (now, the first time): "since mail was on"."""
        now = time.time()
        self._call(lambda: self._backend.add(f"since:{key}", now, timeout=0))
        value = self._call(lambda: self._backend.get(f"since:{key}"))
        moment = value if isinstance(value, int | float) else now
        # Whole seconds: S3's LastModified has no fraction to compare with.
        return datetime.fromtimestamp(int(moment), tz=UTC)

    def run_lock(self) -> bool:
        """Take the lock of one ``portal watch`` run; false while another run holds it."""
        holder = socket.gethostname()
        return bool(
            self._call(lambda: self._backend.add("watch:run", holder, timeout=RUN_LOCK_SECONDS))
        )

    def release_run_lock(self) -> None:
        """Let the next run start at once."""
        self._call(lambda: self._backend.delete("watch:run"))

    def _call(self, operation: Callable[[], Any]) -> Any:
        try:
            return operation()
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(
                f"the shared cache did not answer ({type(exc).__name__})"
            ) from exc
