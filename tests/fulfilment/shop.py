"""The shop's side of the fulfilment tests: paid orders with signed OrderIDs, their S3 keys."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.support.deliveries import BUCKET, signed
from tests.support.stripe_fixtures import charge, checkout_session, payment_intent
from tests.support.stripe_stub import StripeStub

ALICE = "alice.buyer@example.com"
HOUR = 3600


def paid_order(
    stripe_api: StripeStub,
    reference: str,
    *,
    hours_ago: float = 1,
    paid_hours_ago: float | None = None,
    email: str = ALICE,
    **charge_fields: Any,
) -> dict[str, Any]:
    """An order placed ``hours_ago`` and paid ``paid_hours_ago`` (default: at once), bought
    through the shop's Payment Link with its OrderID signed for the buyer."""
    now = time.time()
    created = int(now - hours_ago * HOUR)
    paid = int(now - (hours_ago if paid_hours_ago is None else paid_hours_ago) * HOUR)
    session = signed(checkout_session(email, reference=reference, created=created))
    intent = payment_intent(charge=charge() | {"created": paid} | charge_fields)
    session.update(payment_intent=intent["id"], _intent=intent)
    stripe_api.add(session)
    return session


def order(stripe_api: StripeStub, reference: str, **fields: Any) -> dict[str, Any]:
    """A signed order as ``checkout_session`` makes it (no expanded payment)."""
    session = signed(checkout_session(fields.pop("email", ALICE), reference=reference, **fields))
    stripe_api.add(session)
    return session


def key(reference: str, name: str) -> str:
    """Where the shop writes ``name`` for the OrderID ``reference`` (the default prefix)."""
    return f"orders/{reference}/{name}"


def put_file(s3: Any, reference: str, name: str = "result.txt", body: bytes = b"ok") -> None:
    """The pipeline wrote a file for the order."""
    s3.put_object(Bucket=BUCKET, Key=key(reference, name), Body=body)


def put_status(s3: Any, reference: str, **fields: Any) -> None:
    """The pipeline wrote the order's status object."""
    s3.put_object(Bucket=BUCKET, Key=key(reference, "_status.json"), Body=json.dumps(fields))
