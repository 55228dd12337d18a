"""The emulator answers as Stripe does on the API version the SDK pins (``2026-10-28.endive``).

Every object the emulator sends, nested hashes and expansions included, is checked against
that version's shapes as Stripe's generated SDKs declare them (``tests/support/
stripe_schema.py``): no field the version does not define, every field it always sends,
enum values it allows, ``null`` only where it allows it, includable lists only when
expanded, ids expanded only when asked. The orders cover what the portal shows: card,
konbini and bank-transfer payments, refunds, invoices, subscription sign-ups, disputes,
Payment Links, customers and the billing portal, and the webhook events about them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import stripe
from flask import Flask, request

from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import API_VERSION, EmulatorState, create_app
from portal.devstack.stripe_emulator.expansion import EXPANDABLE
from tests.support.stripe_operations import expand_problem
from tests.support.stripe_schema import (
    Checker,
    expand_tree,
    fields_of,
    kind_of,
    npm_api_version,
    resource_class,
)

KEY = "sk_test_contract1234567890"
SECRET = "whsec_contract"
Json = dict[str, Any]

#: The expansions the portal asks for (``portal/stripe/``), and a few more.
SESSION_LIST_EXPANSIONS = (
    "data.line_items",
    "data.line_items.data.taxes",
    "data.shipping_cost.taxes",
    "data.payment_intent.latest_charge",
    "data.invoice",
    "data.customer",
)
SESSION_EXPANSIONS = (
    "line_items",
    "line_items.data.taxes",
    "line_items.data.price.product",
    "shipping_cost.taxes",
    "payment_intent.latest_charge.refunds",
    "invoice",
    "payment_link",
)


@dataclass
class Contract:
    """The emulator, seeded with one order of each kind, and what its webhooks carried."""

    state: EmulatorState
    url: str
    received: list[Json]

    def get(self, path: str, *expand: str, **params: Any) -> Json:
        """A raw ``GET`` (the JSON exactly as sent), checked to be a 200."""
        pairs = [*params.items(), *(("expand[]", path) for path in expand)]
        answer = requests.get(
            f"{self.url}{path}", params=pairs, headers={"Authorization": f"Bearer {KEY}"}, timeout=5
        )
        assert answer.status_code == 200, answer.text
        loaded: Json = answer.json()
        return loaded

    def problems(self, obj: Json, *expand: str) -> list[str]:
        checker = Checker()
        checker.check(obj, expand_tree(expand))
        return checker.problems


def _seed(state: EmulatorState) -> None:
    hanako = state.add_customer("hanako@example.jp", "山田 花子")
    card = state.add_order(
        "hanako@example.jp",
        client_reference_id="JP-CARD",
        items=[("Scan", 3000, 2), ("Print", 500, 1)],
        customer=hanako["id"],
        invoice=True,
    )
    state.refund(card["id"], 1000)
    full = state.add_order("hanako@example.jp", client_reference_id="JP-REFUNDED")
    state.refund(full["id"])
    state.add_order(
        "hanako@example.jp",
        payment_method="konbini",
        payment_status="unpaid",
        client_reference_id="JP-KONBINI",
    )
    state.add_order("hanako@example.jp", payment_method="customer_balance", payment_status="unpaid")
    state.add_order("hanako@example.jp", currency="usd", items=[("Zine", 1999, 1)])
    state.add_order(
        "hanako@example.jp", payment_status="no_payment_required", items=[("Free", 0, 1)]
    )
    state.add_order("hanako@example.jp", status="open")
    state.add_order("hanako@example.jp", status="expired")
    state.add_order("hanako@example.jp", mode="subscription", client_reference_id="JP-SUB")
    sub = state.add_order("hanako@example.jp", mode="subscription")
    state.refund(sub["id"])
    for status in ("needs_response", "won", "lost"):
        state.dispute(
            state.add_order("hanako@example.jp", client_reference_id=f"JP-{status}")["id"], status
        )
    konbini = state.add_order(
        "hanako@example.jp", payment_method="konbini", payment_status="unpaid"
    )
    state.mark_paid(konbini["id"])
    failed = state.add_order("hanako@example.jp", payment_method="konbini", payment_status="unpaid")
    state.fail_payment(failed["id"])


@pytest.fixture(scope="module")
def contract() -> Iterator[Contract]:
    received: list[Json] = []
    hook = Flask("hook")

    @hook.post("/hook")
    def got() -> str:
        received.append(json.loads(request.get_data()))
        return "ok"

    state = EmulatorState()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_in_thread(hook) as receiver:
        app = create_app(
            state, api_key=KEY, webhook_targets=[(f"{receiver.url}/hook", SECRET)], public_url=url
        )
        with run_in_thread(app, port=port):
            _seed(state)
            yield Contract(state, url, received)
            state.wait_for_deliveries()


def _sessions(contract: Contract) -> list[Json]:
    return list(contract.state.sessions.values())


# --- the source of truth ---------------------------------------------------------------


def test_both_generated_sdks_and_the_emulator_speak_the_pinned_version():
    assert stripe.api_version == npm_api_version() == API_VERSION == "2026-10-28.endive"


def test_the_checker_finds_each_kind_of_difference(contract):
    session = contract.get("/v1/checkout/sessions", limit=1)["data"][0]
    wrong = {**session, "invoice_subscription": "sub_1", "mode": "hosted", "created": None}
    del wrong["livemode"]
    found = contract.problems(wrong)
    assert "checkout.session.invoice_subscription: not a field of the pinned version" in found
    assert any(p.startswith("checkout.session.mode: 'hosted' is not one of") for p in found)
    assert "checkout.session.created: null, never null in the pinned version" in found
    assert "checkout.session.livemode: missing (always sent by Stripe)" in found
    items = contract.get(f"/v1/checkout/sessions/{session['id']}/line_items")
    unasked = {**session, "line_items": items}
    assert "checkout.session.line_items: includable, sent without being expanded" in (
        contract.problems(unasked)
    )
    intent = contract.get(f"/v1/checkout/sessions/{session['id']}", "payment_intent")
    assert "checkout.session.payment_intent: expanded without being asked" in contract.problems(
        intent
    )


def test_the_pinned_invoice_has_no_subscription_charge_or_payment_intent():
    # Removed in 2025-03-31.basil: the payment sits on invoice.payments, the subscription
    # on invoice.parent.subscription_details.
    assert not {"subscription", "charge", "payment_intent"} & set(fields_of(stripe.Invoice))


def test_the_emulator_expands_exactly_what_the_pinned_version_expands():
    for kind, fields in EXPANDABLE.items():
        if kind.startswith(("list:", "hash:")):
            continue
        cls = resource_class(kind)
        for field, target in fields.items():
            if target.startswith("hash:"):  # walked through: a nested hash, not expandable
                assert kind_of(fields_of(cls)[field]).form == "object", (kind, field)
            else:
                assert expand_problem(cls, field) is None, (kind, field)


# --- the objects -----------------------------------------------------------------------


def test_listed_checkout_sessions_match_the_pinned_version(contract):
    for status in ("complete", "open", "expired"):
        assert contract.problems(contract.get("/v1/checkout/sessions", status=status)) == []
    listed = contract.get("/v1/checkout/sessions", *SESSION_LIST_EXPANSIONS, limit=100)
    assert len(listed["data"]) == len(_sessions(contract))
    assert contract.problems(listed, *SESSION_LIST_EXPANSIONS) == []


def test_each_retrieved_checkout_session_matches_the_pinned_version(contract):
    for session in _sessions(contract):
        path = f"/v1/checkout/sessions/{session['id']}"
        assert contract.problems(contract.get(path)) == [], session["id"]
        assert contract.problems(contract.get(path, *SESSION_EXPANSIONS), *SESSION_EXPANSIONS) == []
        items = contract.get(f"{path}/line_items", "data.taxes", "data.price.product")
        assert contract.problems(items, "data.taxes", "data.price.product") == []


def test_payments_charges_refunds_and_invoices_match_the_pinned_version(contract):
    state = contract.state
    for intent in list(state.payment_intents):
        found = contract.get(f"/v1/payment_intents/{intent}", "latest_charge.refunds")
        assert contract.problems(found, "latest_charge.refunds") == []
    for charge in list(state.charges):
        assert contract.problems(contract.get(f"/v1/charges/{charge}")) == []
        asked = ("refunds", "payment_intent", "customer")
        assert contract.problems(contract.get(f"/v1/charges/{charge}", *asked), *asked) == []
    disputes = contract.get("/v1/disputes", "data.charge", "data.payment_intent", limit=100)
    assert len(disputes["data"]) == 3
    assert contract.problems(disputes, "data.charge", "data.payment_intent") == []
    refunds = contract.get("/v1/refunds", "data.charge", limit=100)
    assert refunds["data"] and contract.problems(refunds, "data.charge") == []
    for invoice in list(state.invoices):
        assert contract.problems(contract.get(f"/v1/invoices/{invoice}")) == []
        asked = ("payments", "customer")
        assert contract.problems(contract.get(f"/v1/invoices/{invoice}", *asked), *asked) == []
    deep = ("data.payment.payment_intent.latest_charge", "data.invoice")
    payments = contract.get("/v1/invoice_payments", *deep, limit=100)
    assert payments["data"] and contract.problems(payments, *deep) == []


def test_customers_links_catalogue_and_billing_portal_match_the_pinned_version(contract):
    client = stripe.StripeClient(KEY, base_addresses={"api": contract.url})
    link = client.v1.payment_links.create(
        params={
            "line_items": [
                {
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": 3000,
                        "product_data": {"name": "Scan"},
                    },
                    "quantity": 1,
                }
            ]
        }
    )
    assert contract.problems(contract.get(f"/v1/payment_links/{link.id}")) == []
    asked = ("line_items",)
    assert contract.problems(contract.get(f"/v1/payment_links/{link.id}", *asked), *asked) == []
    assert contract.problems(contract.get("/v1/payment_links")) == []
    customer = next(iter(contract.state.customers))
    assert contract.problems(contract.get(f"/v1/customers/{customer}")) == []
    found = contract.get("/v1/customers/search", query="email:'hanako@example.jp'")
    assert found["data"] and contract.problems(found) == []
    portal = client.v1.billing_portal.sessions.create(params={"customer": customer})
    assert contract.problems(portal.to_dict()) == []
    price = next(iter(contract.state.prices))
    assert contract.problems(contract.get(f"/v1/prices/{price}", "product"), "product") == []


def test_every_webhook_event_matches_the_pinned_version(contract):
    contract.state.wait_for_deliveries()
    assert {e["type"] for e in contract.received} >= {
        "charge.refunded",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "charge.dispute.created",
        "charge.dispute.closed",
    }
    for event in contract.received:
        assert event["api_version"] == stripe.api_version  # the endpoint's: the default
        assert contract.problems(event) == [], event["type"]
        # ``data.object`` is the object as the API would send it, unexpanded.
        assert contract.problems(event["data"]["object"]) == [], event["type"]


# --- what the issue named --------------------------------------------------------------


def test_includable_fields_come_only_when_expanded(contract):
    session = next(s for s in _sessions(contract) if s["client_reference_id"] == "JP-CARD")
    plain = contract.get(f"/v1/checkout/sessions/{session['id']}", "payment_intent.latest_charge")
    assert "line_items" not in plain
    assert "refunds" not in plain["payment_intent"]["latest_charge"]
    invoice = contract.get(f"/v1/invoices/{session['invoice']}")
    assert "payments" not in invoice
    asked = contract.get(f"/v1/invoices/{session['invoice']}", "payments")
    assert asked["payments"]["object"] == "list"


def test_a_subscription_session_has_no_payment_intent_and_its_invoice_the_payment(contract):
    session = next(s for s in _sessions(contract) if s["client_reference_id"] == "JP-SUB")
    got = contract.get(f"/v1/checkout/sessions/{session['id']}", "invoice")
    assert got["mode"] == "subscription" and got["payment_intent"] is None
    invoice = got["invoice"]
    assert not {"subscription", "charge", "payment_intent"} & set(invoice)
    assert invoice["parent"]["subscription_details"]["subscription"] == got["subscription"]


def test_ui_mode_is_a_value_of_the_pinned_version(contract):
    allowed = kind_of(fields_of(resource_class("checkout.session"))["ui_mode"]).of
    assert {s["ui_mode"] for s in _sessions(contract)} <= allowed
