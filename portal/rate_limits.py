"""Rate limits (flask-limiter) on the routes that face the internet, per IP and per user.

Counted in Redis when ``PORTAL_CACHE_URL`` is a Redis URL (shared by every worker and
host), otherwise in each process. The client's IP is the socket's, or what the trusted
proxies say when ``PORTAL_TRUSTED_PROXIES`` is set: a spoofed ``X-Forwarded-For`` changes
nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.settings import Settings

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
    views["webhooks.stripe_webhook"] = limiter.limit(WEBHOOK_FAILURES, deduct_when=_refused)(
        views["webhooks.stripe_webhook"]
    )
    app.extensions["portal.limiter"] = limiter
    return limiter


def _refused(response: Response) -> bool:
    return response.status_code == 400 and request.path == "/webhooks/stripe"
