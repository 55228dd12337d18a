"""Every error becomes one of our pages: never a traceback, never a secret."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from portal import metrics
from portal.auth.expiry import expired_form
from portal.domain import FilesUnavailable, OrdersUnavailable, StripeMisconfigured
from portal.orders.service import FilesWithheld, OrderNotFound, OrderRefunded
from portal.sessions import SessionStoreUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30

_DESCRIPTIONS = {
    400: lazy_gettext("The request was not understood."),
    403: lazy_gettext("You may not open this page."),
    404: lazy_gettext("We could not find this page. Please check the address."),
    405: lazy_gettext("This address does not accept that kind of request."),
    413: lazy_gettext("The request is too large."),
    429: lazy_gettext("Too many requests. Please wait a moment."),
    500: lazy_gettext("Something went wrong on our side. Please try again later."),
}
#: Page titles for HTTP errors; other statuses keep werkzeug's English name.
_TITLES = {
    400: lazy_gettext("Bad request"),
    403: lazy_gettext("Not allowed"),
    404: lazy_gettext("Page not found"),
    405: lazy_gettext("Method not allowed"),
    413: lazy_gettext("Request too large"),
    429: lazy_gettext("Too many requests"),
    500: lazy_gettext("Something went wrong"),
}


def register(app: Flask) -> None:
    """Map the portal's errors and HTTP errors to pages (JSON for JSON clients)."""

    @app.errorhandler(OrderNotFound)
    def order_not_found(error: OrderNotFound) -> Response:
        return error_page(
            404,
            _("Order not found"),
            _("We could not find that order in your account."),
        )

    @app.errorhandler(FilesWithheld)
    def files_withheld(error: FilesWithheld) -> Response:
        return error_page(
            403,
            _("Files not available"),
            _(
                "This order's payment is being reviewed with the card issuer, or was taken "
                "back by it, so its files are not available."
            ),
        )

    @app.errorhandler(OrderRefunded)
    def order_refunded(error: OrderRefunded) -> Response:
        return error_page(
            410,
            _("This order was refunded"),
            _("The order was refunded, so its files can no longer be downloaded."),
            back=(url_for("orders.detail", session_id=error.session_id), _("See the order")),
        )

    @app.errorhandler(OrdersUnavailable)
    def orders_unavailable(exc: OrdersUnavailable) -> Response:
        # The Stripe adapter has logged the cause (one line, in Stripe's words).
        return _retry_later(
            error_page(
                503,
                _("Orders are temporarily unavailable"),
                _("We cannot reach our payment provider right now. Please try again in a minute."),
            ),
            getattr(exc, "retry_after", None),
        )

    @app.errorhandler(FilesUnavailable)
    def files_unavailable(error: FilesUnavailable) -> Response:
        return _retry_later(
            error_page(
                503,
                _("Downloads are temporarily unavailable"),
                _("Your files cannot be reached right now. Please try again in a minute."),
            )
        )

    @app.errorhandler(SessionStoreUnavailable)
    @app.errorhandler(RedisError)
    def store_unavailable(exc: Exception) -> Response:
        # Sessions (and the shared cache) live in Redis: without it nobody can be known.
        log.error("Redis unavailable: %s", type(exc).__name__)
        return _retry_later(
            error_page(
                503,
                _("The portal is temporarily unavailable"),
                _("Please try again in a minute."),
            )
        )

    @app.errorhandler(StripeMisconfigured)
    def stripe_misconfigured(exc: StripeMisconfigured) -> Response:
        log.critical("Stripe configuration problem (request id %s): %s", exc.request_id, exc)
        return error_page(500, _("Something went wrong"), str(_DESCRIPTIONS[500]))

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        # The login ended (and its CSRF token with it): ask for a login, not "expired".
        ended = expired_form()
        if ended is not None:
            return ended
        return error_page(
            400, _("This form has expired"), _("Please go back, reload the page and try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        # Errors while opening the session (before any view) reach us wrapped in a 500.
        original = getattr(exc, "original_exception", None)
        if isinstance(original, RedisError):
            return store_unavailable(original)
        status = exc.code or 500
        if status >= 500:
            log.error("HTTP %s on %s %s", status, request.method, request.path)
        if status == 429:
            metrics.RATE_LIMITED.labels(endpoint=request.endpoint or "none").inc()
            # Every limit is per minute, so a minute always suffices.
            response = error_page(429, str(_TITLES[429]), str(_DESCRIPTIONS[429]))
            response.headers["Retry-After"] = "60"
            return response
        custom = exc.description if exc.description != type(exc).description else None
        title = str(_TITLES.get(status, exc.name))
        return error_page(status, title, str(custom or _DESCRIPTIONS.get(status, title)))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_page(500, str(_TITLES[500]), str(_DESCRIPTIONS[500]))


def error_page(
    status: int, title: str, message: str, back: tuple[str, str] | None = None
) -> Response:
    """Our error page, or a short JSON error for clients that asked for JSON. ``back`` is
    a (URL, label) link to offer instead of the start page."""
    if request.is_json or request.accept_mimetypes.best == "application/json":
        response = jsonify({"error": {"status": status, "message": message}})
    else:
        html = render_template("error.html", status=status, title=title, message=message, back=back)
        response = make_response(html)
    response.status_code = status
    return response


def _retry_later(response: Response, seconds: int | None = None) -> Response:
    """``Retry-After``: ours, or Stripe's when it asked for longer (a rate limit)."""
    response.headers["Retry-After"] = str(max(RETRY_AFTER_SECONDS, seconds or 0))
    return response
