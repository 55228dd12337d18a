"""Stripe's webhook events: the signature checked, the parts the portal acts on read."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import stripe

from portal.domain import PortalError
from portal.stripe.client import Json

#: Stripe's own tolerance for a webhook signature's age.
WEBHOOK_TOLERANCE_SECONDS = 300


class InvalidWebhook(PortalError):
    """A webhook request that is not a genuine, fresh Stripe event.

    ``signed`` tells a body that carries a valid signature but is not an event we can
    read (only the holder of the secret can send one) from a forgery.
    """

    def __init__(self, reason: str, *, signed: bool = False) -> None:
        super().__init__(reason)
        self.signed = signed


@dataclass(frozen=True)
class StripeEvent:
    """The parts of a verified Stripe event the portal acts on."""

    id: str
    type: str
    created: int
    #: ``data.object.id`` (a Checkout Session id for ``checkout.session.*``).
    object_id: str | None
    #: ``data.object.customer_details.email`` when the object carries one.
    email: str | None
    #: ``data.object.client_reference_id``: the shop's OrderID.
    reference: str | None
    payment_status: str | None
    #: The whole event as Stripe sent it, for forwarding.
    payload: Json = field(repr=False, compare=False)


def verify_webhook(payload: bytes, signature: str | None, secrets: Sequence[str]) -> StripeEvent:
    """Check Stripe's signature (any of ``secrets``) and read the event.

    Raises :class:`InvalidWebhook` for a missing, malformed, wrong or stale signature
    (older than Stripe's 300 s tolerance, or as far in the future), and for a body that is
    not a Stripe event. The body is parsed only after the signature holds.
    """
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    if not any(_signed_by(payload, signature, secret) for secret in secrets):
        raise InvalidWebhook("signature does not verify")
    if _signed_at(signature) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidWebhook("signature timestamp is in the future")
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # bad UTF-8; nesting deeper than Python's
        raise InvalidWebhook("body is not JSON", signed=True) from exc
    if not isinstance(data, dict):
        raise InvalidWebhook("not a Stripe event", signed=True)
    return _event_from(data)


def _signed_by(payload: bytes, signature: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8", errors="replace"),
            signature,
            secret,
            WEBHOOK_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError:
        return False
    return True


def _signed_at(signature: str) -> int:
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0


def _event_from(data: Json) -> StripeEvent:
    """The event's parts, every one checked for its type *before* anything acts on it: a
    signed but malformed event is refused whole (400), never half-handled."""
    envelope = data.get("data")
    obj = envelope.get("object") if isinstance(envelope, dict) else None
    if data.get("object") != "event" or not isinstance(obj, dict):
        raise InvalidWebhook("not a Stripe event", signed=True)
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise InvalidWebhook("event without id or type", signed=True)
    created = data.get("created", 0)
    if not isinstance(created, int) or isinstance(created, bool):
        raise InvalidWebhook("event whose created is not a timestamp", signed=True)
    details = obj.get("customer_details")
    return StripeEvent(
        id=data["id"],
        type=data["type"],
        created=created,
        object_id=_text(obj.get("id")),
        email=_text(details.get("email")) if isinstance(details, dict) else None,
        reference=_text(obj.get("client_reference_id")),
        payment_status=_text(obj.get("payment_status")),
        payload=data,
    )


def _text(value: object) -> str | None:
    """A string field, or ``None`` for anything else (a number, a list, null)."""
    return value if isinstance(value, str) else None
