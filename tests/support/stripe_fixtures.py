"""Stripe objects for tests, shaped by Stripe's own examples (``tests/fixtures/stripe/``)."""

from __future__ import annotations

import copy
import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

#: Vendored from Stripe's openapi repository; see the README beside it.
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe" / "fixtures3.json"

_ids = itertools.count(1)
_clock = itertools.count(1_760_000_000, 60)


@cache
def _resources() -> dict[str, Any]:
    return json.loads(FIXTURES.read_text())["resources"]


def fixture(name: str) -> dict[str, Any]:
    """A fresh deep copy of Stripe's example object ``name`` (e.g. ``checkout.session``)."""
    return copy.deepcopy(_resources()[name])


def session_id() -> str:
    """A new id shaped like a live Checkout Session id."""
    return f"cs_test_a1{next(_ids):056d}"


def line_item(description: str, unit_amount: int, quantity: int = 1, currency: str = "jpy") -> dict:
    """A Checkout line item (``item`` in the fixtures)."""
    item = fixture("item")
    price = fixture("price")
    price.update(unit_amount=unit_amount, currency=currency)
    item.update(
        id=f"li_{next(_ids):024d}",
        description=description,
        quantity=quantity,
        currency=currency,
        amount_subtotal=unit_amount * quantity,
        amount_total=unit_amount * quantity,
        price=price,
    )
    return item


def checkout_session(
    email: str,
    *,
    reference: str | None = "ORDER-1",
    amount: int = 5000,
    currency: str = "jpy",
    status: str = "complete",
    payment_status: str = "paid",
    items: list[dict] | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """A Checkout Session as Stripe returns it, for ``email``."""
    session = fixture("checkout.session")
    session.update(
        id=session_id(),
        client_reference_id=reference,
        amount_total=amount,
        amount_subtotal=amount,
        currency=currency,
        status=status,
        payment_status=payment_status,
        created=created if created is not None else next(_clock),
        customer_email=None,
        url=None,
        total_details={"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        shipping_cost=None,
    )
    details = session.get("customer_details") or {}
    session["customer_details"] = {**details, "email": email}
    session["_items"] = (
        items if items is not None else [line_item("Photo book", amount, 1, currency)]
    )
    return session


def list_object(data: list[dict], *, has_more: bool, url: str) -> dict[str, Any]:
    """Stripe's list envelope."""
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def payment_intent(
    *,
    status: str = "succeeded",
    amount: int = 5000,
    currency: str = "jpy",
    charge: dict[str, Any] | None = None,
    next_action: dict[str, Any] | None = None,
    failed: bool = False,
) -> dict[str, Any]:
    """A PaymentIntent with its ``latest_charge`` expanded (as the portal asks for it)."""
    intent = fixture("payment_intent")
    intent.update(
        id=f"pi_{next(_ids):024d}",
        status=status,
        amount=amount,
        currency=currency,
        latest_charge=charge,
        next_action=next_action,
    )
    if not failed:
        intent["last_payment_error"] = None
    return intent


def charge(
    *, amount: int = 5000, refunded: int = 0, currency: str = "jpy", paid: bool = True
) -> dict[str, Any]:
    """A Charge with a receipt, possibly (partly) refunded."""
    made = fixture("charge")
    charge_id = f"ch_{next(_ids):024d}"
    made.update(
        id=charge_id,
        amount=amount,
        amount_refunded=refunded,
        refunded=refunded >= amount,
        currency=currency,
        paid=paid,
        receipt_url=f"https://pay.stripe.com/receipts/payment/{charge_id}",
    )
    return made


def subscription_sign_up(
    email: str, *, reference: str | None = "SUB-1", amount: int = 980, refunded: int = 0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A subscription-mode session as the pinned API version returns it (no PaymentIntent:
    the payment is on its invoice), and the invoice payment that paid it."""
    session = checkout_session(email, reference=reference, amount=amount)
    n = next(_ids)
    invoice_id, subscription = f"in_{n:024d}", f"sub_{n:024d}"
    session.update(
        mode="subscription",
        payment_intent=None,
        invoice=invoice_id,
        subscription=subscription,
        customer=f"cus_{n:014d}",
    )
    paid = charge(amount=amount, refunded=refunded)
    if refunded:
        paid["_refunds"] = [
            fixture("refund")
            | {"id": f"re_{n:024d}", "amount": refunded, "currency": "jpy", "charge": paid["id"]}
        ]
    invoice = fixture("invoice")
    invoice.update(id=invoice_id, status="paid", amount_paid=amount, total=amount)
    invoice["parent"] = {
        "type": "subscription_details",
        "quote_details": None,
        "subscription_details": {"metadata": {}, "subscription": subscription},
    }
    payment = fixture("invoice_payment")
    payment.update(
        id=f"inpay_{n:024d}",
        invoice=invoice_id,
        amount_paid=amount,
        amount_requested=amount,
        currency="jpy",
        status="paid",
        _intent=payment_intent(amount=amount, charge=paid),
        _invoice=invoice,
    )
    return session, payment


def tax_rate(percentage: float, *, inclusive: bool = True, tax_type: str = "jct") -> dict:
    """A Japanese consumption tax rate (Stripe's ``tax_rate``), as a line item's tax carries it."""
    rate = fixture("tax_rate")
    rate.update(
        id=f"txr_{next(_ids):024d}",
        country="JP",
        description=None,
        display_name="消費税",
        jurisdiction="JP",
        percentage=percentage,
        inclusive=inclusive,
        tax_type=tax_type,
        flat_amount=None,
    )
    return rate


def taxed(item: dict, rate: dict, *, reason: str | None = None) -> dict:
    """``item`` with ``rate`` applied, as ``expand[]=line_items.data.taxes`` shows it."""
    total, percentage = item["amount_total"], rate["percentage"]
    if rate["inclusive"]:
        tax = total * percentage // (100 + percentage)
        base = total - tax
    else:
        base, tax = total, total * percentage // 100
        item["amount_total"] = total + tax
    item["amount_tax"] = tax
    item["taxes"] = [
        {"amount": tax, "rate": rate, "taxability_reason": reason, "taxable_amount": base}
    ]
    return item
