"""Sessions kept on the server (flask-session), so logging out makes the cookie worthless.

The browser holds only a random session id. Redis stores the sessions when
``PORTAL_CACHE_URL`` is a Redis URL (several hosts; the client of ``portal.redis_client``,
which follows a Sentinel failover); otherwise they are files in the instance folder (one
host, shared by its workers).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from cachelib import FileSystemCache
from flask import Flask, g, session
from flask.sessions import SessionInterface
from flask_session import Session
from redis import Redis
from redis.exceptions import RedisError

from portal.domain import PortalError
from portal.settings import Settings

log = logging.getLogger(__name__)

#: Requests under these paths come from Stripe or a load balancer, never from a browser:
#: they neither read nor create a session (no store round trip, no cookie, no
#: ``Vary: Cookie``), so a health check costs nothing and a webhook one cache round trip.
SESSIONLESS_PATHS = ("/webhooks/", "/healthz", "/readyz")


def install(app: Flask, settings: Settings, redis: Redis | None) -> None:
    """Bind server-side sessions with the idle timeout as their lifetime in the store.

    ``redis`` is the portal's shared client when ``PORTAL_CACHE_URL`` names a Redis.
    """
    app.config.update(
        SESSION_PERMANENT=True,
        # Each request moves the deadline. The store keeps a session up to the absolute
        # limit, past the idle one (which load_customer enforces): so a customer back after
        # the idle limit can be told that this is why they must log in again.
        PERMANENT_SESSION_LIFETIME=timedelta(
            minutes=max(settings.session_idle_minutes, settings.session_hours * 60)
        ),
        SESSION_REFRESH_EACH_REQUEST=True,
        SESSION_KEY_PREFIX="order-portal:session:",
        SESSION_ID_LENGTH=32,
    )
    if redis is not None:
        app.config.update(SESSION_TYPE="redis", SESSION_REDIS=redis)
    else:
        folder = Path(app.instance_path) / "sessions"
        folder.mkdir(parents=True, exist_ok=True)
        app.config.update(
            SESSION_TYPE="cachelib",
            SESSION_CACHELIB=FileSystemCache(str(folder), threshold=50_000, mode=0o600),
        )
    Session(app)
    app.session_interface = _KeepsAnsweringWithoutRedis(app.session_interface)  # type: ignore[assignment]

    @app.before_request
    def _store_must_answer() -> None:
        session.get("customer")  # sessions open lazily: open it now, before any view
        if g.get("session_store_down"):
            raise SessionStoreUnavailable("Redis unavailable")


class SessionStoreUnavailable(PortalError):
    """Sessions cannot be read: nobody can be recognised until the store is back."""


class _KeepsAnsweringWithoutRedis:
    """The store's interface, except that a failed save is logged rather than raised.

    When Redis goes away mid-request the customer already gets the 503 page; failing
    again while saving that page's session would turn it into a bare 500.
    """

    def __init__(self, inner: SessionInterface) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_session(self, app: Flask, request: Any) -> Any:
        if request.path.startswith(SESSIONLESS_PATHS):
            # Flask neither saves a null session nor sets its cookie.
            return self._inner.make_null_session(app)
        try:
            return self._inner.open_session(app, request)
        except RedisError as exc:
            log.error("session not read, Redis unavailable (%s)", type(exc).__name__)
            g.session_store_down = True
            return self._inner.make_null_session(app)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        try:
            self._inner.save_session(app, session, response)
        except RedisError as exc:
            log.error("session not saved, Redis unavailable (%s)", type(exc).__name__)
