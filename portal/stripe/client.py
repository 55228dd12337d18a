"""The one ``StripeClient``, and ``call``: the one place every Stripe request passes.

Only the ``portal.stripe`` package imports the ``stripe`` SDK. Answers are read as plain
JSON (``Json``) through the SDK's raw requests, so nothing past this package ever sees an
SDK object (stripe 16 objects are not dicts anyway).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import stripe

from portal.stripe.errors import failed, retry_after
from portal.stripe.guard import GuardedHttpClient, StripeGuard

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


#: A 429 is waited out when Stripe's ``Retry-After`` fits in this many seconds (all
#: waits of one call together); else the page gets its cached copy or the 503 page.
RATE_LIMIT_WAIT_SECONDS = 2


def call(
    request: Callable[[], Any], *, endpoint: str = "", missing_ok: bool = False
) -> Json | None:
    """Run one SDK request; return its JSON body, and turn its errors into ours.

    Every request to Stripe passes here (the single place to wrap them). Each failure is
    logged once, as one line with Stripe's own words (:mod:`portal.stripe.errors`);
    ``endpoint`` (``"GET /v1/checkout/sessions"``) says which call it was. The SDK never
    retries a 429 and ignores ``Retry-After``: a short ``Retry-After`` is honoured here.
    """
    waited = 0
    while True:
        try:
            return dict(request().data)
        except stripe.RateLimitError as exc:
            wait = retry_after(exc)
            if wait is None or waited + wait > RATE_LIMIT_WAIT_SECONDS:
                failed(exc, endpoint)
            waited += wait
            time.sleep(wait)
        except stripe.InvalidRequestError as exc:
            if missing_ok and exc.http_status == 404:
                return None
            failed(exc, endpoint)
        except stripe.StripeError as exc:
            failed(exc, endpoint)
