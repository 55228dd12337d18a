"""The memory of an order's first 領収書, kept in Stripe's metadata (Stripe stays the database).

The first issue's 宛名, 但し書き and time are written to the metadata of the order's
PaymentIntent (for a subscription, the one that paid its invoice), else of its invoice, so
a second download can be
marked 「再発行」 with the same 宛名. Writing needs the API key's write permission on those
objects (a restricted key: "PaymentIntents: Write", and "Invoices: Write" for
subscriptions). A key without it still gets receipts, without the memory.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe

from portal.domain import ReceiptIssue
from portal.stripe.client import Json, call

log = logging.getLogger(__name__)

ADDRESSEE_KEY = "portal_receipt_addressee"
PURPOSE_KEY = "portal_receipt_purpose"
ISSUED_AT_KEY = "portal_receipt_issued_at"


def receipt_issue_from(metadata: Json | None) -> ReceiptIssue | None:
    """The first issue remembered in ``metadata``, or ``None`` when there is none (or it is
    not one the portal wrote)."""
    metadata = metadata or {}
    issued_at = str(metadata.get(ISSUED_AT_KEY) or "")
    if not issued_at.isdigit() or ADDRESSEE_KEY not in metadata:
        return None
    return ReceiptIssue(
        addressee=str(metadata[ADDRESSEE_KEY]),
        purpose=str(metadata.get(PURPOSE_KEY) or ""),
        issued_at=datetime.fromtimestamp(int(issued_at), tz=UTC),
    )


class _Refused(Exception):
    """The API key may not write this object."""


class ReceiptMemory:
    """Writes the first issue of a receipt where Stripe keeps it."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client
        #: Whether the key may write metadata: unknown (``None``) until the first write.
        self.writable: bool | None = None

    def remember(
        self, issue: ReceiptIssue, *, intent_id: str | None, invoice_id: str | None
    ) -> bool:
        """Write ``issue`` to the order's PaymentIntent (else its invoice); see
        :func:`remember_receipt`."""
        if not (intent_id or invoice_id):
            return False
        written = remember_receipt(self._client, issue, intent_id=intent_id, invoice_id=invoice_id)
        self.writable = written
        return written


def remember_receipt(
    client: stripe.StripeClient,
    issue: ReceiptIssue,
    *,
    intent_id: str | None,
    invoice_id: str | None,
) -> bool:
    """Write ``issue`` to the order's PaymentIntent (else its invoice).

    ``False`` when there is neither or the key may not write it (logged with the
    permission it needs); Stripe being down raises ``OrdersUnavailable`` as any call.
    """
    if intent_id:
        path, permission = f"/v1/payment_intents/{intent_id}", "PaymentIntents: Write"
    elif invoice_id:
        path, permission = f"/v1/invoices/{invoice_id}", "Invoices: Write"
    else:
        return False
    params: Any = {
        "metadata": {
            ADDRESSEE_KEY: issue.addressee,
            PURPOSE_KEY: issue.purpose,
            ISSUED_AT_KEY: str(int(issue.issued_at.timestamp())),
        }
    }

    def request() -> Any:
        try:
            return client.raw_request("post", path, **params)
        except stripe.PermissionError as exc:
            raise _Refused(exc.request_id) from exc

    try:
        call(request)
    except _Refused as refused:
        log.warning(
            "receipt issued without memory: the Stripe key lacks %s (request id %s)",
            permission,
            refused,
        )
        return False
    return True
