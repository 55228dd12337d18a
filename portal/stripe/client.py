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

log = logging.getLogger(__name__)

#: Seconds to wait for Stripe before showing "temporarily unavailable" (SDK default: 80).
STRIPE_TIMEOUT_SECONDS = 5.0
#: Retries for connection errors, 5xx, 409 and ``lock_timeout``; the SDK does none unless
#: told, and it never retries a 429.
STRIPE_NETWORK_RETRIES = 2

_SESSION_ID = re.compile(r"cs_(?:test_|live_)?[A-Za-z0-9]{8,250}")

Json = dict[str, Any]


def make_client(secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
    """One ``StripeClient`` for the app, with a short timeout and retries switched on."""
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=STRIPE_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_SECONDS),
    )


def is_session_id(value: str) -> bool:
    """Whether ``value`` is shaped like a Checkout Session id (checked before any call)."""
    return bool(_SESSION_ID.fullmatch(value))


def call(request: Callable[[], Any], *, missing_ok: bool = False) -> Json | None:
    """Run one SDK request; return its JSON body, and turn its errors into ours."""
    try:
        return dict(request().data)
    except stripe.InvalidRequestError as exc:
        if missing_ok and exc.http_status == 404:
            return None
        log.error("Stripe rejected a request (request id %s): %s", exc.request_id, exc.code)
        raise StripeMisconfigured("Stripe rejected the request", exc.request_id) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        log.critical(
            "Stripe refused the API key (request id %s): check PORTAL_STRIPE_SECRET_KEY",
            exc.request_id,
        )
        raise StripeMisconfigured("Stripe refused the API key", exc.request_id) from exc
    except stripe.StripeError as exc:
        # Connection errors, 5xx and rate limits: the SDK has already retried.
        log.warning(
            "Stripe unavailable (%s, HTTP %s, request id %s)",
            type(exc).__name__,
            exc.http_status,
            exc.request_id,
        )
        raise OrdersUnavailable("Stripe did not answer", exc.request_id) from exc
