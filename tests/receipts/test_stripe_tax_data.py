"""What the Stripe adapter reads for receipts: line-item taxes, products, the first issue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from portal.domain import ItemTax, ReceiptIssue
from portal.stripe.mapping import order_from_session
from tests.support.stripe_fixtures import (
    charge,
    checkout_session,
    line_item,
    payment_intent,
    tax_rate,
    taxed,
)


def _session(*items: dict, intent: dict | None = None) -> dict:
    session = checkout_session("alice@example.com", items=list(items))
    session["line_items"] = {"object": "list", "data": list(items), "has_more": False}
    session["payment_intent"] = intent
    return session


def test_line_item_taxes_are_read_with_their_rate_and_kind():
    food = taxed(line_item("お菓子", 1080), tax_rate(8), reason="reduced_rated")
    book = taxed(line_item("写真集", 3000), tax_rate(10, inclusive=False))
    order = order_from_session(_session(food, book))
    assert order.items[0].taxes == (ItemTax(Decimal(8), True, 80, 1000, reduced=True, kind="jct"),)
    assert order.items[1].taxes == (ItemTax(Decimal(10), False, 300, 3000, kind="jct"),)
    assert order.items[1].amount_total.amount == 3300


def test_items_name_their_product_for_per_product_rates():
    item = line_item("写真集", 3300)
    item["price"]["product"] = "prod_PhotoBook"
    assert order_from_session(_session(item)).items[0].product == "prod_PhotoBook"


def test_sessions_without_tax_data_have_no_item_taxes():
    order = order_from_session(_session(line_item("写真集", 3300)))
    assert order.items[0].taxes == ()
    assert order.amount_tax == 0


def test_the_first_receipt_issue_is_read_from_the_payment_intents_metadata():
    intent = payment_intent(charge=charge(amount=3300))
    intent["metadata"] = {
        "portal_receipt_addressee": "株式会社サンプル",
        "portal_receipt_purpose": "書籍代として",
        "portal_receipt_issued_at": "1793000000",
        "shop_note": "kept",
    }
    order = order_from_session(_session(line_item("写真集", 3300), intent=intent))
    assert order.receipt_issue == ReceiptIssue(
        "株式会社サンプル", "書籍代として", datetime.fromtimestamp(1793000000, tz=UTC)
    )
    assert order.payment_intent == intent["id"]


def test_metadata_the_portal_did_not_write_is_no_receipt_issue():
    intent = payment_intent(charge=charge(amount=3300))
    intent["metadata"] = {"portal_receipt_issued_at": "yesterday"}
    order = order_from_session(_session(line_item("写真集", 3300), intent=intent))
    assert order.receipt_issue is None


def test_shipping_is_read_with_its_taxes():
    session = _session(line_item("写真集", 3300))
    rate = tax_rate(10)
    session["shipping_cost"] = {
        "amount_subtotal": 550,
        "amount_tax": 50,
        "amount_total": 550,
        "shipping_rate": "shr_test",
        "taxes": [{"amount": 50, "rate": rate, "taxability_reason": None, "taxable_amount": 500}],
    }
    shipping = order_from_session(session).shipping
    assert shipping is not None
    assert shipping.amount_total.amount == 550
    assert shipping.taxes == (ItemTax(Decimal(10), True, 50, 500, kind="jct"),)


def test_no_shipping_cost_is_no_shipping_line():
    assert order_from_session(_session(line_item("写真集", 3300))).shipping is None
