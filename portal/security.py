"""Response headers and cookie policy applied to every response."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.wrappers import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def install(app: Flask, *, https: bool) -> None:
    """Harden cookies and add the security headers every page needs."""
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        # __Host- cookies are only accepted over https, for this host and path /.
        SESSION_COOKIE_NAME="__Host-portal" if https else "portal",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        REMEMBER_COOKIE_SECURE=https,
    )

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        # Presigned download URLs carry their signature in the query: never leak it.
        headers.setdefault("Referrer-Policy", "no-referrer")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        # Pages may show a customer's orders; only static files may be cached.
        if not request.path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"
        return response
