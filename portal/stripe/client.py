"""The one ``StripeClient`` and the one place Stripe's errors become the portal's.

Only the ``portal.stripe`` package imports the ``stripe`` SDK. Answers are read as plain
JSON (``Json``) through the SDK's raw requests, so nothing past this package ever sees an
SDK object (stripe 16 objects are not dicts anyway).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import stripe

from portal.domain import OrdersUnavailable, StripeMisconfigured
from portal.stripe.guard import GuardedHttpClient, StripeGuard

log = logging.getLogger(__name__)

#: Seconds to wait for Stripe before showing "temporarily unavailable" (SDK default: 80).
STRIPE_TIMEOUT_SECONDS = 5.0
#: Retries for connection errors, 5xx, 409 and ``lock_timeout``; the SDK does none unless
#: told, and it never retries a 429.
STRIPE_NETWORK_RETRIES = 2

_SESSION_ID = re.compile(r"cs_(?:test_|live_)?[A-Za-z0-9]{8,250}")

Json = dict[str, Any]


def make_client(
    secret_key: str, api_base: str | None = None, guard: StripeGuard | None = None
) -> stripe.StripeClient:
    """One ``StripeClient`` for the app, with a short timeout and retries switched on;
    with a ``guard``, every HTTP attempt is admitted by it (``portal.stripe.guard``)."""
    http_client = (
        GuardedHttpClient(guard, STRIPE_TIMEOUT_SECONDS)
        if guard
        else stripe.RequestsClient(timeout=STRIPE_TIMEOUT_SECONDS)
    )
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=STRIPE_NETWORK_RETRIES,
        http_client=http_client,
    )


def is_session_id(value: str) -> bool:
    """Whether ``value`` is shaped like a Checkout Session id (checked before any call)."""
    return bool(_SESSION_ID.fullmatch(value))


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


def call(
    request: Callable[[], Any], *, endpoint: str = "", missing_ok: bool = False
) -> Json | None:
    """Run one SDK request; return its JSON body, and turn its errors into ours.

    Every request to Stripe passes here (the single place to wrap them). Each failure is
    logged once, as one line with Stripe's own words (see :func:`describe`); ``endpoint``
    (``"GET /v1/checkout/sessions"``) says which call it was.
    """
    try:
        return dict(request().data)
    except stripe.InvalidRequestError as exc:
        if missing_ok and exc.http_status == 404:
            return None
        log.error("Stripe rejected %s: %s", endpoint or "a request", describe(exc))
        raise StripeMisconfigured("Stripe rejected the request", exc.request_id) from exc
    except stripe.PermissionError as exc:
        permission = missing_permission(exc)
        log.critical(
            "Stripe refused %s: the API key lacks the permission %s; give the restricted key"
            " that permission (see the README's permissions table): %s",
            endpoint or "a request",
            permission or "(not named)",
            describe(exc),
        )
        raise StripeAccessRefused(
            "Stripe refused the API key", exc.request_id, permission=permission
        ) from exc
    except stripe.AuthenticationError as exc:
        log.critical(
            "Stripe refused the API key on %s: check PORTAL_STRIPE_SECRET_KEY: %s",
            endpoint or "a request",
            describe(exc),
        )
        raise StripeAccessRefused("Stripe refused the API key", exc.request_id) from exc
    except stripe.StripeError as exc:
        # Connection errors, 5xx and rate limits: the SDK has already retried.
        log.warning("Stripe unavailable on %s: %s", endpoint or "a request", describe(exc))
        raise OrdersUnavailable("Stripe did not answer", exc.request_id) from exc


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
