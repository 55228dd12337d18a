"""The shop's side of an order in tests: sold through a Payment Link with an OrderID the
portal signed for the buyer, and its files written under that OrderID in S3."""

from __future__ import annotations

from typing import Any

from portal.order_refs import order_id_of, sign

BUCKET = "portal-test-files"
#: ``PORTAL_ORDER_ID_KEY`` of the test portal (``tests/conftest.py``).
ORDER_ID_KEY = b"test-order-id-key-that-is-long-enough-0123456789"
#: The Payment Link the test orders were bought through.
LINK = "plink_test_shop"


def signed(session: dict[str, Any], *, link: str = LINK) -> dict[str, Any]:
    """Make ``session`` an order bought through ``link`` with its OrderID signed for its
    buyer, as ``/buy/<name>`` does (changes and returns it)."""
    reference = session["client_reference_id"]
    email = session["customer_details"]["email"]
    session["client_reference_id"] = sign(order_id_of(reference), link, email, ORDER_ID_KEY)
    session["payment_link"] = link
    return session


def fulfil(s3: Any, session: dict[str, Any], name: str, body: bytes = b"data") -> str:
    """The shop's fulfilment wrote ``name`` for this (signed) order; returns its S3 key."""
    if session.get("payment_link") is None:
        signed(session)
    key = f"orders/{order_id_of(session['client_reference_id'])}/{name}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return key
