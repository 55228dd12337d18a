"""Stripe's JSON (a Checkout Session with its expansions) to the portal's :class:`Order`.

A payment-mode session's payment is its ``payment_intent``. A subscription-mode session has
``payment_intent: null`` (API version ``2026-10-28.endive``): its payment sits on the invoice,
as an ``invoice_payment`` naming the PaymentIntent. The caller reads that
invoice payment (with ``payment.payment_intent.latest_charge`` expanded) and passes it in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from portal.domain import (
    N_,
    Dispute,
    ItemTax,
    LineItem,
    Money,
    Order,
    OrderStatus,
    PaymentDetails,
    TimelineEntry,
)
from portal.stripe.client import Json
from portal.stripe.instructions import bank_transfer, konbini_payment, payment_method
from portal.stripe.receipt_memory import receipt_issue_from

_PAID_STATUSES = {"paid", "no_payment_required"}


def order_from_session(
    session: Json, invoice_payment: Json | None = None, disputes: list[Json] | None = None
) -> Order:
    """The order a complete Checkout Session (as listed or retrieved, expanded) describes.

    ``invoice_payment`` is the paid (or pending) payment of a subscription session's
    invoice; receipt, refunds and paid state then come from its PaymentIntent.
    ``disputes`` are the payment's disputes when it was disputed and they were read;
    without them a disputed payment counts as under review.
    """
    currency = session.get("currency") or "usd"
    line_items = session.get("line_items") or {}
    details = session.get("customer_details") or {}
    intent = _object(session.get("payment_intent")) or _intent_of(invoice_payment)
    charge = _object(intent.get("latest_charge"))
    invoice = _object(session.get("invoice"))
    return Order(
        session_id=session["id"],
        reference=session.get("client_reference_id"),
        created=datetime.fromtimestamp(int(session["created"]), tz=UTC),
        status=_status(session.get("payment_status"), intent, charge),
        total=Money(int(session.get("amount_total") or 0), currency),
        email=details.get("email") or "",
        items=tuple(_line_item(item, currency) for item in line_items.get("data") or ()),
        items_complete=not line_items.get("has_more", False),
        payment=_with_invoice_id(_payment_details(intent, charge, invoice, currency), session),
        customer=session.get("customer") if isinstance(session.get("customer"), str) else None,
        paid_at=_time(charge.get("created")) if charge.get("paid") else None,
        timeline=_timeline(session, intent, charge, currency) + _dispute_entries(charge, disputes),
        is_subscription=session.get("mode") == "subscription",
        payment_link=session.get("payment_link")
        if isinstance(session.get("payment_link"), str)
        else None,
        payment_intent=intent.get("id") or _string(session.get("payment_intent")),
        amount_tax=int((session.get("total_details") or {}).get("amount_tax") or 0),
        shipping=_shipping(session.get("shipping_cost"), currency),
        receipt_issue=receipt_issue_from((intent or invoice).get("metadata")),
        dispute=_dispute(charge, disputes)[0],
    )


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _object(value: Any) -> Json:
    """An expanded object, or ``{}`` for an id, ``null`` or a field left out."""
    return value if isinstance(value, dict) else {}


def _intent_of(invoice_payment: Json | None) -> Json:
    payment = _object((invoice_payment or {}).get("payment"))
    return _object(payment.get("payment_intent"))


def invoice_payment_of(payments: list[Json]) -> Json | None:
    """Of an invoice's payments (newest first), the one that paid it, else the one it waits
    for (the default payment Stripe keeps in step with ``amount_remaining``)."""
    paid = [p for p in payments if p.get("status") == "paid"]
    default = [p for p in payments if p.get("is_default")]
    chosen = paid or default or payments
    return chosen[0] if chosen else None


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int) else None


def _timeline(
    session: Json, intent: Json, charge: Json, currency: str
) -> tuple[TimelineEntry, ...]:
    """What the session, its payment intent and charge tell about the order's life."""
    total = Money(int(session.get("amount_total") or 0), currency)
    entries = [TimelineEntry(N_("Order placed"), _time(session.get("created")), total)]
    if (intent.get("next_action") or {}).get("type") or intent.get("payment_method_types") in (
        ["konbini"],
        ["customer_balance"],
    ):
        entries.append(TimelineEntry(N_("Awaiting payment"), _time(intent.get("created"))))
    if charge.get("paid"):
        entries.append(TimelineEntry(N_("Paid"), _time(charge.get("created")), total))
    elif intent.get("last_payment_error") and session.get("payment_status") == "unpaid":
        entries.append(TimelineEntry(N_("Payment failed"), _time(intent.get("canceled_at"))))
    refunds = (charge.get("refunds") or {}).get("data") or []
    for refund in sorted(refunds, key=lambda r: int(r.get("created") or 0)):
        amount = Money(int(refund.get("amount") or 0), refund.get("currency") or currency)
        entries.append(
            TimelineEntry(_refund_label(amount, total), _time(refund.get("created")), amount)
        )
    if not refunds and charge.get("amount_refunded"):
        amount = Money(int(charge["amount_refunded"]), charge.get("currency") or currency)
        entries.append(TimelineEntry(_refund_label(amount, total), None, amount))
    return tuple(entries)


def _refund_label(amount: Money, total: Money) -> str:
    """一部返金 for part of the order, 返金 for all of it."""
    return N_("Partly refunded") if amount.amount < total.amount else N_("Refunded")


#: Dispute statuses (https://docs.stripe.com/api/disputes/object#dispute_object-status).
_DISPUTE_DECIDED = {"lost": Dispute.LOST, "won": Dispute.CLOSED, "warning_closed": Dispute.CLOSED}
_DISPUTE_DECIDED["prevented"] = Dispute.CLOSED
_DISPUTE_WORDS = {
    Dispute.UNDER_REVIEW: N_("Payment disputed"),
    Dispute.LOST: N_("Payment reversed by the card issuer"),
    Dispute.CLOSED: N_("Payment review completed"),
}


def _dispute(charge: Json, disputes: list[Json] | None) -> tuple[Dispute | None, Json]:
    """The charge's dispute state, from its newest dispute (under review when unread)."""
    if not charge.get("disputed"):
        return None, {}
    newest = max(disputes or [], key=lambda d: int(d.get("created") or 0), default={})
    return _DISPUTE_DECIDED.get(str(newest.get("status")), Dispute.UNDER_REVIEW), newest


def _dispute_entries(charge: Json, disputes: list[Json] | None) -> tuple[TimelineEntry, ...]:
    state, newest = _dispute(charge, disputes)
    if state is None:
        return ()
    return (TimelineEntry(_DISPUTE_WORDS[state], _time(newest.get("created"))),)


def _status(payment_status: str | None, intent: Json, charge: Json) -> OrderStatus:
    if payment_status in _PAID_STATUSES:
        refunded = int(charge.get("amount_refunded") or 0)
        if refunded and refunded >= int(charge.get("amount") or 0):
            return OrderStatus.REFUNDED
        return OrderStatus.PARTIALLY_REFUNDED if refunded else OrderStatus.PAID
    # An async payment that failed leaves the intent wanting a new payment method.
    if intent.get("status") in ("requires_payment_method", "canceled") and intent.get(
        "last_payment_error"
    ):
        return OrderStatus.PAYMENT_FAILED
    return OrderStatus.AWAITING_PAYMENT


def _payment_details(intent: Json, charge: Json, invoice: Json, currency: str) -> PaymentDetails:
    action = intent.get("next_action") or {}
    konbini = action.get("konbini_display_details") or {}
    transfer = action.get("display_bank_transfer_instructions") or {}
    expires = konbini.get("expires_at")
    refunded = int(charge.get("amount_refunded") or 0)
    return PaymentDetails(
        receipt_url=charge.get("receipt_url") if charge.get("paid") else None,
        voucher_url=konbini.get("hosted_voucher_url"),
        voucher_expires_at=datetime.fromtimestamp(int(expires), tz=UTC) if expires else None,
        instructions_url=transfer.get("hosted_instructions_url"),
        refunded=Money(refunded, charge.get("currency") or currency) if refunded else None,
        invoice_url=invoice.get("hosted_invoice_url"),
        invoice_pdf=invoice.get("invoice_pdf"),
        invoice_id=invoice.get("id"),
        disputed=bool(charge.get("disputed")),
        refund_failed=any(
            refund.get("status") == "failed"
            for refund in (charge.get("refunds") or {}).get("data") or ()
        ),
        method=payment_method(intent, charge),
        konbini=konbini_payment(action),
        bank_transfer=bank_transfer(action),
    )


def _with_invoice_id(payment: PaymentDetails, session: Json) -> PaymentDetails:
    """The invoice's id also when it was not expanded."""
    return replace(payment, invoice_id=payment.invoice_id or _string(session.get("invoice")))


def _line_item(item: Json, currency: str) -> LineItem:
    price = item.get("price") or {}
    product = price.get("product")
    name = item.get("description") or (product.get("name") if isinstance(product, dict) else "")
    return LineItem(
        description=name or "Item",
        quantity=int(item.get("quantity") or 1),
        amount_total=Money(int(item.get("amount_total") or 0), item.get("currency") or currency),
        product=product.get("id") if isinstance(product, dict) else product,
        taxes=tuple(t for t in map(_item_tax, item.get("taxes") or ()) if t is not None),
    )


def _shipping(cost: Any, currency: str) -> LineItem | None:
    """``shipping_cost`` as a line (its ``taxes`` come when ``shipping_cost.taxes`` is
    expanded); ``None`` when the session charged no shipping."""
    if not isinstance(cost, dict) or not cost.get("amount_total"):
        return None
    return LineItem(
        description="Shipping",
        quantity=1,
        amount_total=Money(int(cost["amount_total"]), currency),
        taxes=tuple(t for t in map(_item_tax, cost.get("taxes") or ()) if t is not None),
    )


def _item_tax(tax: Json) -> ItemTax | None:
    """One of a line item's ``taxes`` (present when ``line_items.data.taxes`` is expanded)."""
    rate = tax.get("rate")
    if not isinstance(rate, dict):
        return None
    effective = rate.get("effective_percentage")
    try:
        percentage = Decimal(str(rate.get("percentage") if effective is None else effective))
    except InvalidOperation:
        return None
    return ItemTax(
        percentage=percentage,
        inclusive=bool(rate.get("inclusive")),
        amount=int(tax.get("amount") or 0),
        taxable_amount=int(tax.get("taxable_amount") or 0),
        reduced=tax.get("taxability_reason") == "reduced_rated",
        kind=rate.get("tax_type"),
    )
