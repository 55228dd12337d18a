"""Stripe's errors as the portal's, and as one log line in Stripe's own words.

Each failed call is logged once (:func:`failed`): HTTP status, type, code, param, message
and request id, with any key Stripe quotes cut to its prefix. A refused key or a missing
permission and a rate limit become kinds of :class:`~portal.domain.OrdersUnavailable`, so
customers get the cached copy or "temporarily unavailable", never a 500.
"""

from __future__ import annotations

import logging
import re
from typing import NoReturn

import stripe

from portal.domain import OrdersUnavailable, StripeMisconfigured

log = logging.getLogger(__name__)


class StripeAccessRefused(OrdersUnavailable):
    """Stripe refused our key (401) or a restricted key lacks a permission (403).

    An operator must act; until then customers get "temporarily unavailable" (or the
    cached copy with its time), like any outage, never a 500.
    """

    def __init__(
        self, reason: str, request_id: str | None = None, *, permission: str | None = None
    ) -> None:
        super().__init__(reason, request_id)
        #: The permission Stripe named (``rak_payment_intent_read``), when it named one.
        self.permission = permission


class StripeRateLimited(OrdersUnavailable):
    """Stripe answered 429 and asked for more patience than a page can wait."""

    def __init__(self, reason: str, request_id: str | None, retry_after: int | None) -> None:
        super().__init__(reason, request_id)
        #: Stripe's ``Retry-After`` in seconds, when it sent one.
        self.retry_after = retry_after


def failed(exc: stripe.StripeError, endpoint: str) -> NoReturn:
    """Log ``exc`` once and raise the portal's error for it."""
    where = endpoint or "a request"
    if isinstance(exc, stripe.InvalidRequestError):
        log.error("Stripe rejected %s: %s", where, describe(exc))
        raise StripeMisconfigured("Stripe rejected the request", exc.request_id) from exc
    if isinstance(exc, stripe.PermissionError):
        permission = missing_permission(exc)
        log.critical(
            "Stripe refused %s: the API key lacks the permission %s; give the restricted key"
            " that permission (see the README's permissions table): %s",
            where,
            permission or "(not named)",
            describe(exc),
        )
        raise StripeAccessRefused(
            "Stripe refused the API key", exc.request_id, permission=permission
        ) from exc
    if isinstance(exc, stripe.AuthenticationError):
        log.critical(
            "Stripe refused the API key on %s: check PORTAL_STRIPE_SECRET_KEY: %s",
            where,
            describe(exc),
        )
        raise StripeAccessRefused("Stripe refused the API key", exc.request_id) from exc
    if isinstance(exc, stripe.RateLimitError):
        wait = retry_after(exc)
        log.warning("Stripe rate-limited %s (Retry-After %s): %s", where, wait, describe(exc))
        raise StripeRateLimited("Stripe is rate-limiting us", exc.request_id, wait) from exc
    # Connection errors and 5xx: the SDK has already retried.
    log.warning("Stripe unavailable on %s: %s", where, describe(exc))
    raise OrdersUnavailable("Stripe did not answer", exc.request_id) from exc


def retry_after(exc: stripe.StripeError) -> int | None:
    """Stripe's ``Retry-After`` (whole seconds), if it sent one."""
    value = (exc.headers or {}).get("Retry-After", "")
    return int(value) if value.strip().isdigit() else None


#: ``Having the 'rak_charge_read' permission would allow this request to continue.``
_PERMISSION = re.compile(r"Having the '(rak_[a-z0-9_]+)' permission")
#: Anything shaped like a Stripe key, even masked as Stripe quotes it back.
_KEY = re.compile(r"\b((?:sk|rk|pk)_(?:test|live))_[A-Za-z0-9*]+")


def missing_permission(exc: stripe.StripeError) -> str | None:
    """The permission a 403 from a restricted key names, if it names one."""
    found = _PERMISSION.search(_message(exc))
    return found.group(1) if found else None


def describe(exc: stripe.StripeError) -> str:
    """Stripe's error as one log line: HTTP status, type, code, param, message (on one
    line) and request id. Keys in the message (Stripe quotes them masked) are cut to their
    prefix, so no part of a key reaches a log."""
    error = exc.error
    fields = {
        "http": exc.http_status,
        "type": getattr(error, "type", None) or type(exc).__name__,
        "code": exc.code or getattr(error, "code", None),
        "param": getattr(error, "param", None),
        "request_id": exc.request_id,
    }
    shown = " ".join(f"{name}={value}" for name, value in fields.items() if value)
    message = _KEY.sub(r"\1_…", " ".join(_message(exc).split()))
    return f"{shown} message={message!r}"


def _message(exc: stripe.StripeError) -> str:
    error_message = getattr(exc.error, "message", None)
    return str(error_message or exc.user_message or exc)
