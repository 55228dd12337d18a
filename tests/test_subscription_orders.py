"""Subscription sign-ups: on the pinned API version their payment is on the invoice.

A subscription-mode Checkout Session has ``payment_intent: null``; the receipt, the paid and
refunded state, the history and the files rule come from the invoice's payment.
"""

from __future__ import annotations

import json

from tests.support.deliveries import fulfil
from tests.support.stripe_fixtures import fixture, subscription_sign_up
from tests.test_webhooks import post, sign

ALICE = "alice@example.com"


def test_a_subscription_order_shows_the_receipt_of_its_invoice_payment(
    client, logged_in, stripe_api
):
    session, payment = subscription_sign_up(ALICE, reference="SUB-PAID")
    stripe_api.add(session)
    stripe_api.add_invoice_payment(payment)
    receipt = payment["_intent"]["latest_charge"]["receipt_url"]
    listed = client.get("/orders").get_data(as_text=True)
    assert "SUB-PAID" in listed and "Paid" in listed
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert f'href="{receipt}"' in html
    assert "Manage your subscription" in html


def test_a_fully_refunded_subscription_order_gives_no_files(client, logged_in, stripe_api, s3):
    session, payment = subscription_sign_up(ALICE, reference="SUB-GONE", refunded=980)
    fulfil(s3, session, "result.zip")
    stripe_api.add(session)
    stripe_api.add_invoice_payment(payment)
    assert "Refunded" in client.get("/orders?status=refunded").get_data(as_text=True)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "can no longer be downloaded" in html and "/files/result.zip" not in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 410


def test_a_partly_refunded_subscription_order_shows_the_dated_refund_and_keeps_its_files(
    client, logged_in, stripe_api, s3
):
    session, payment = subscription_sign_up(ALICE, reference="SUB-PART", refunded=300)
    payment["_intent"]["latest_charge"]["_refunds"][0]["created"] = 1_767_300_000
    fulfil(s3, session, "result.zip")
    stripe_api.add(session)
    stripe_api.add_invoice_payment(payment)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    timeline = html.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    assert "Partly refunded</strong> ¥300" in timeline and "2026" in timeline
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302


def test_a_subscription_detail_costs_one_call_more_than_a_payment_and_none_for_no_refund(
    client, logged_in, stripe_api
):
    session, payment = subscription_sign_up(ALICE, reference="SUB-CALLS")
    stripe_api.add(session)
    stripe_api.add_invoice_payment(payment)
    client.get(f"/orders/{session['id']}")
    assert [path for _, path in stripe_api.calls] == [
        f"/v1/checkout/sessions/{session['id']}",
        "/v1/invoice_payments",
    ]


def test_a_refund_of_a_subscription_payment_invalidates_its_order(client, logged_in, stripe_api):
    session, payment = subscription_sign_up(ALICE, reference="SUB-WEBHOOK")
    stripe_api.add(session)
    stripe_api.add_invoice_payment(payment)
    before = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Paid" in before
    refunded = payment["_intent"]["latest_charge"]
    refunded.update(amount_refunded=980, refunded=True)
    refunded["_refunds"] = [fixture("refund") | {"amount": 980, "charge": refunded["id"]}]
    charge = {k: v for k, v in refunded.items() if not k.startswith("_")}
    body = json.dumps(
        fixture("event")
        | {
            "id": "evt_sub_refund",
            "type": "charge.refunded",
            "data": {"object": charge | {"payment_intent": payment["_intent"]["id"]}},
        }
    ).encode()
    answer = post(client, body, sign(body))
    assert answer.json["outcome"] == "invalidated"
    after = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "can no longer be downloaded" in after


def test_a_refund_of_a_renewal_leaves_the_sign_up_cached(client, logged_in, stripe_api):
    session, payment = subscription_sign_up(ALICE, reference="SUB-RENEWAL")
    _, renewal = subscription_sign_up(ALICE)
    renewal["_invoice"]["parent"] = payment["_invoice"]["parent"]
    stripe_api.add(session)
    stripe_api.add_invoice_payment(payment)
    stripe_api.add_invoice_payment(renewal)
    client.get(f"/orders/{session['id']}")
    body = json.dumps(
        fixture("event")
        | {
            "id": "evt_renewal_refund",
            "type": "refund.created",
            "data": {"object": fixture("refund") | {"payment_intent": renewal["_intent"]["id"]}},
        }
    ).encode()
    assert post(client, body, sign(body)).json["outcome"] == "invalidated"
    calls = stripe_api.call_count
    client.get(f"/orders/{session['id']}")
    assert stripe_api.call_count == calls
