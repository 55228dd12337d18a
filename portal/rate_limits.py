"""Rate limits (flask-limiter) on the routes that face the internet, per IP and per user.

Counted in Redis when ``PORTAL_CACHE_URL`` is a Redis URL (shared by every worker and
host), otherwise in each process. The client's IP is the socket's, or what the trusted
proxies say when ``PORTAL_TRUSTED_PROXIES`` is set: a spoofed ``X-Forwarded-For`` changes
nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse
from redis import Redis

from portal.auth.pending import current_logins

log = logging.getLogger(__name__)

#: Starting a login and coming back from the provider, per browser (the pending-login
#: cookie's id) ...
LOGIN_PER_BROWSER = "20 per minute"
#: ... and per IP, much higher: a carrier's NAT or an office puts many customers behind
#: one address. A callback that is not a login this browser started counts against nothing.
LOGIN_PER_IP = "600 per minute"
#: Logins completed for one account at the provider.
LOGIN_PER_ACCOUNT = "10 per minute"
#: Order pages, exports and the billing portal: per logged-in customer, and per IP.
PAGES_PER_USER = "120 per minute"
PAGES_PER_IP = "300 per minute"
#: Download links handed out, per customer.
DOWNLOADS_PER_USER = "30 per minute"
#: Webhook requests that fail verification, per IP (genuine Stripe events are not counted).
WEBHOOK_FAILURES = "60 per minute"

_PAGES = (
    "orders.index",
    "orders.detail",
    "orders.payment_return",
    "orders.export_json",
    "orders.export_csv",
    "orders.billing",
    "orders.buy",
    "fulfilment.poll",
)


def user_key() -> str:
    """The customer when logged in, else the client's IP."""
    if current_user.is_authenticated:
        return f"user:{current_user.get_id()}"
    return f"ip:{get_remote_address()}"


def login_browser_key() -> str:
    """The browser, as its pending-login cookie names it."""
    return f"browser:{current_logins().browser}"


def _not_a_login_in_flight() -> bool:
    pending, _ = current_logins().take(request.values.get("state"))
    return pending is None


def install(app: Flask, redis: Redis | None) -> Limiter:
    """Wrap the app's views in their limits. Call after the blueprints are registered.

    With the portal's shared Redis client (``redis``) the counts are shared by every
    worker and host; limits then uses that client's connection pool, so it follows the
    same server (a Sentinel failover included). Without Redis they are per worker.
    """
    app.config.update(
        # The scheme picks limits' Redis storage; the pool decides where it connects.
        RATELIMIT_STORAGE_URI="redis://" if redis is not None else "memory://",
        RATELIMIT_STORAGE_OPTIONS=(
            {"connection_pool": redis.connection_pool} if redis is not None else {}
        ),
        # Our 429 page sets Retry-After itself; flask-limiter's headers would also
        # overwrite the Retry-After of other pages (the 503s).
        RATELIMIT_HEADERS_ENABLED=False,
        # If Redis is down, let requests through: sessions already answer 503 then.
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    limiter = Limiter(key_func=get_remote_address, app=app, strategy="fixed-window")
    views: dict[str, Any] = app.view_functions

    def limit(endpoint: str, *limits: tuple[str, Any], exempt_when: Any = None) -> None:
        view = views[endpoint]
        for value, key in limits:
            view = limiter.limit(value, key_func=key, exempt_when=exempt_when)(view)
        views[endpoint] = view

    login_limits = ((LOGIN_PER_BROWSER, login_browser_key), (LOGIN_PER_IP, get_remote_address))
    limit("auth.login", *login_limits)
    limit("auth.callback", *login_limits, exempt_when=_not_a_login_in_flight)
    for endpoint in _PAGES:
        limit(endpoint, (PAGES_PER_USER, user_key), (PAGES_PER_IP, get_remote_address))
    limit("orders.download", (DOWNLOADS_PER_USER, user_key), (PAGES_PER_IP, get_remote_address))
    # Genuine Stripe events are never limited nor counted: checking a limit on each one
    # would cost a Redis round trip per event. Refused ones count, in ``webhook_refused``.
    views["webhooks.stripe_webhook"] = limiter.exempt(views["webhooks.stripe_webhook"])
    app.extensions["portal.limiter"] = limiter
    return limiter


def account_over_limit(sub: str) -> bool:
    """Count a login completed for ``sub``; ``True`` once that account is over its limit."""
    return not _hit(_LOGIN_PER_ACCOUNT, "login-account", sub)


def webhook_refused() -> bool:
    """Count a webhook that failed verification; ``True`` once this IP is over its limit.

    Called only after the signature check failed, so a flood of forged requests is
    turned away (429) without ever slowing Stripe's own deliveries.
    """
    return not _hit(_WEBHOOK_FAILURES, "webhook-refused", get_remote_address())


def _hit(limit: Any, *identifiers: str) -> bool:
    """Count one hit; ``False`` when over the limit (``True`` if the store is down)."""
    limiter: Limiter = current_app.extensions["portal.limiter"]
    if not limiter.enabled:  # RATELIMIT_ENABLED=False turns these counts off too
        return True
    try:
        return bool(limiter.limiter.hit(limit, *identifiers))
    except Exception as exc:
        log.warning("rate limit store unavailable (%s)", type(exc).__name__)
        return True


_WEBHOOK_FAILURES = parse(WEBHOOK_FAILURES)
_LOGIN_PER_ACCOUNT = parse(LOGIN_PER_ACCOUNT)
