"""Response headers, cookie policy, and where forms may be posted from."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from flask_wtf.csrf import CSRFError
from werkzeug.wrappers import Response

log = logging.getLogger(__name__)
#: Paths whose answers hold nothing personal and may be cached (the shop's logo too).
CACHEABLE_PREFIXES = ("/static/", "/shop/logo")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: Where the portal's own forms lead, besides itself: Stripe's billing portal and
#: checkout (browsers check ``form-action`` along a form's redirects too). The OpenID
#: provider's origins are added per app (``portal.form_targets``).
STRIPE_FORM_TARGETS = ("https://billing.stripe.com", "https://checkout.stripe.com")
#: Same-origin navigations keep their Referer (some CSRF checks need it); nothing leaves
#: the site, so no page address (nor a presigned download URL) reaches another origin.
REFERRER_POLICY = "same-origin"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def install(
    app: Flask,
    *,
    public_url: str,
    hsts: str = "max-age=31536000",
    stripe_pages: tuple[str, ...] = (),
) -> None:
    """Harden cookies, add the security headers every page needs, and accept a form only
    from the portal's own origin."""
    https = public_url.startswith("https://")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        # __Host- cookies are only accepted over https, for this host and path /.
        SESSION_COOKIE_NAME="__Host-portal" if https else "portal",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        REMEMBER_COOKIE_SECURE=https,
        # Flask-WTF's https check wants a Referer from https://<Host>/: it fails when a
        # browser sends none and depends on the proxy's Host. The origin check below
        # replaces it, against PORTAL_PUBLIC_URL.
        WTF_CSRF_SSL_STRICT=False,
    )
    app.extensions["portal.origin"] = origin_of(public_url)
    app.extensions["portal.stripe_pages"] = (
        *STRIPE_FORM_TARGETS,
        *filter(None, map(origin_of, stripe_pages)),
    )

    @app.before_request
    def forms_come_from_this_site() -> None:
        # Runs after Flask-WTF's token check, which marks the requests it protects.
        if g.get("csrf_valid"):
            _check_origin(https=https)

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy())
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if https:
            headers.setdefault("Strict-Transport-Security", hsts)
        # Pages may show a customer's orders; only static files may be cached.
        if not request.path.startswith(CACHEABLE_PREFIXES):
            headers["Cache-Control"] = "no-store"
        return response


def content_security_policy() -> str:
    """The pages' CSP, with ``form-action`` naming every origin a form of ours leads to."""
    targets: Callable[[], set[str]] | None = current_app.extensions.get("portal.form_targets")
    stripe_pages = current_app.extensions.get("portal.stripe_pages", STRIPE_FORM_TARGETS)
    extra = sorted({*stripe_pages, *(targets() if targets else ())})
    return f"{CONTENT_SECURITY_POLICY}; form-action 'self' {' '.join(extra)}"


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (default port left out)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    shown = "" if port in (None, _DEFAULT_PORTS[parts.scheme]) else f":{port}"
    return f"{parts.scheme}://{host}{shown}"


def _check_origin(*, https: bool) -> None:
    """Refuse a form posted from another origin (CSRF), by ``Origin`` or else ``Referer``.

    Browsers send ``Origin`` with every form POST, and with our referrer policy also a
    same-origin ``Referer``. Over https a form with neither is refused, as Flask-WTF did;
    over plain http (development) a client that sends neither is let through.
    """
    ours = current_app.extensions["portal.origin"]
    sent = request.headers.get("Origin")
    if sent is None and request.referrer:
        sent = origin_of(request.referrer) or "unreadable Referer"
    if sent is None:
        if https:
            raise CSRFError("The form came without an Origin or Referer.")
        return
    if sent.lower() != ours:
        log.warning("form refused: posted from %r, not from PORTAL_PUBLIC_URL %r", sent[:100], ours)
        raise CSRFError("The form was posted from another site.")
