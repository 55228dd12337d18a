"""Sending an order's paid event again to the shop's fulfilment endpoint, signed.

The event is ``checkout.session.completed`` with the session as Stripe returns it now,
signed with the endpoint's own signing secret in Stripe's scheme (``Stripe-Signature:
t=…,v1=HMAC-SHA256(secret, "t.payload")``), so the endpoint's usual verification (Stripe's
SDK ``construct_event``) accepts it. Its id starts ``evt_rerun_`` so the endpoint can tell
it from Stripe's own, and it carries ``"portal_rerun": true``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import requests

TIMEOUT_SECONDS = 10


class EndpointRefused(Exception):
    """The endpoint did not take the event; ``str()`` names the cause, never the secret."""


def resend_paid_event(session: dict[str, Any], url: str, secret: str) -> str:
    """POST the signed event to ``url``; returns the event's id."""
    event_id = f"evt_rerun_{secrets.token_hex(12)}"
    event = {
        "id": event_id,
        "object": "event",
        "type": "checkout.session.completed",
        "created": int(time.time()),
        "livemode": bool(session.get("livemode")),
        "data": {"object": session},
        "request": {"id": None, "idempotency_key": None},
        "portal_rerun": True,
    }
    payload = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, secret)}
    host = urlsplit(url).hostname
    try:
        answer = requests.post(url, data=payload, headers=headers, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise EndpointRefused(
            f"the endpoint at {host} did not answer ({type(exc).__name__})"
        ) from exc
    if answer.status_code >= 300:
        raise EndpointRefused(f"the endpoint at {host} answered HTTP {answer.status_code}")
    return event_id


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"
