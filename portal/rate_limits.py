"""Rate limits (flask-limiter) on the routes that face the internet, per IP and per user.

Counted in Redis when ``PORTAL_CACHE_URL`` is a Redis URL (shared by every worker and
host), otherwise in each process. The client's IP is the socket's, or what the trusted
proxies say when ``PORTAL_TRUSTED_PROXIES`` is set: a spoofed ``X-Forwarded-For`` changes
nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse

from portal.settings import Settings

log = logging.getLogger(__name__)

#: Starting a login and coming back from the provider, per IP.
LOGIN = "20 per minute"
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
)


def user_key() -> str:
    """The customer when logged in, else the client's IP."""
    if current_user.is_authenticated:
        return f"user:{current_user.get_id()}"
    return f"ip:{get_remote_address()}"


def install(app: Flask, settings: Settings) -> Limiter:
    """Wrap the app's views in their limits. Call after the blueprints are registered."""
    url = settings.cache_url or ""
    shared = url.startswith(("redis://", "rediss://"))
    app.config.update(
        RATELIMIT_STORAGE_URI=url if shared else "memory://",
        # Our 429 page sets Retry-After itself; flask-limiter's headers would also
        # overwrite the Retry-After of other pages (the 503s).
        RATELIMIT_HEADERS_ENABLED=False,
        # If Redis is down, let requests through: sessions already answer 503 then.
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    limiter = Limiter(key_func=get_remote_address, app=app, strategy="fixed-window")
    views: dict[str, Any] = app.view_functions

    def limit(endpoint: str, *limits: tuple[str, Any]) -> None:
        view = views[endpoint]
        for value, key in limits:
            view = limiter.limit(value, key_func=key)(view)
        views[endpoint] = view

    for endpoint in ("auth.login", "auth.callback"):
        limit(endpoint, (LOGIN, get_remote_address))
    for endpoint in _PAGES:
        limit(endpoint, (PAGES_PER_USER, user_key), (PAGES_PER_IP, get_remote_address))
    limit("orders.download", (DOWNLOADS_PER_USER, user_key), (PAGES_PER_IP, get_remote_address))
    # Genuine Stripe events are never limited nor counted: checking a limit on each one
    # would cost a Redis round trip per event. Refused ones count, in ``webhook_refused``.
    views["webhooks.stripe_webhook"] = limiter.exempt(views["webhooks.stripe_webhook"])
    app.extensions["portal.limiter"] = limiter
    return limiter


def webhook_refused() -> bool:
    """Count a webhook that failed verification; ``True`` once this IP is over its limit.

    Called only after the signature check failed, so a flood of forged requests is
    turned away (429) without ever slowing Stripe's own deliveries.
    """
    limiter: Limiter = current_app.extensions["portal.limiter"]
    try:
        allowed = limiter.limiter.hit(_WEBHOOK_FAILURES, "webhook-refused", get_remote_address())
    except Exception as exc:
        log.warning("rate limit store unavailable (%s)", type(exc).__name__)
        return False
    return not allowed


_WEBHOOK_FAILURES = parse(WEBHOOK_FAILURES)
