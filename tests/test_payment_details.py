"""What a buyer looks for after paying: receipts, vouchers, transfers, failures, refunds."""

from __future__ import annotations

import pytest

from tests.support.deliveries import fulfil
from tests.support.stripe_fixtures import charge, checkout_session, payment_intent

ALICE = "alice@example.com"


def _order(stripe_api, reference: str, intent: dict, payment_status: str = "paid") -> dict:
    session = checkout_session(ALICE, reference=reference, payment_status=payment_status)
    session["payment_intent"] = intent["id"]
    session["_intent"] = intent
    stripe_api.add(session)
    return session


def test_a_paid_order_links_to_its_receipt_from_the_same_list_call(client, logged_in, stripe_api):
    paid = payment_intent(charge=charge())
    session = _order(stripe_api, "RECEIPT", paid)
    client.get("/orders")
    assert stripe_api.call_count == 2  # one list call per spelling of the email
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert f'href="{paid["latest_charge"]["receipt_url"]}"' in html


def test_a_konbini_order_shows_its_voucher_and_when_it_expires(client, logged_in, stripe_api):
    action = {
        "type": "konbini_display_details",
        "konbini_display_details": {
            "expires_at": 1_893_456_000,
            "hosted_voucher_url": "https://payments.stripe.com/konbini/voucher/test_123",
        },
    }
    intent = payment_intent(status="requires_action", next_action=action)
    session = _order(stripe_api, "KONBINI", intent, payment_status="unpaid")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Awaiting payment" in html
    assert 'href="https://payments.stripe.com/konbini/voucher/test_123"' in html
    # Shown in the shop's zone (Asia/Tokyo by default), in the page's language.
    assert '<time datetime="2030-01-01T00:00:00+00:00">Jan 1, 2030, 9:00\u202fAM</time>' in html


def test_a_bank_transfer_order_links_to_the_transfer_instructions(client, logged_in, stripe_api):
    action = {
        "type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {
            "hosted_instructions_url": "https://payments.stripe.com/bank_transfers/instructions/x"
        },
    }
    intent = payment_intent(status="requires_action", next_action=action)
    session = _order(stripe_api, "TRANSFER", intent, payment_status="unpaid")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert 'href="https://payments.stripe.com/bank_transfers/instructions/x"' in html


def test_a_failed_async_payment_shows_as_failed_without_files(client, logged_in, stripe_api, s3):
    intent = payment_intent(status="requires_payment_method", failed=True)
    session = _order(stripe_api, "FAILED", intent, payment_status="unpaid")
    fulfil(s3, session, "result.zip")
    assert "Payment failed" in client.get("/orders").get_data(as_text=True)
    assert "did not go through" in client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 404


def test_a_partly_refunded_order_shows_the_refund_and_keeps_its_files(
    client, logged_in, stripe_api, s3
):
    session = _order(
        stripe_api, "PARTLY", payment_intent(charge=charge(amount=5000, refunded=2000))
    )
    fulfil(s3, session, "result.zip")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Partly refunded" in html and "¥2,000" in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302


def test_a_fully_refunded_order_no_longer_gives_its_files(client, logged_in, stripe_api, s3):
    session = _order(stripe_api, "FULL", payment_intent(charge=charge(amount=5000, refunded=5000)))
    fulfil(s3, session, "result.zip")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Refunded" in html and "no longer available" in html
    assert "/files/result.zip" not in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 404


@pytest.mark.parametrize("payment_status", ["paid", "unpaid"])
def test_an_order_whose_intent_was_not_expanded_still_shows(
    client, logged_in, stripe_api, payment_status
):
    stripe_api.add(checkout_session(ALICE, reference="PLAIN", payment_status=payment_status))
    assert client.get("/orders").status_code == 200


# --- billing portal -----------------------------------------------------------------------


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/orders").get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_orders_with_a_stripe_customer_offer_the_billing_portal(client, logged_in, stripe_api):
    session = checkout_session(ALICE, reference="CUST")
    session["customer"] = "cus_alice"
    stripe_api.add(session)
    stripe_api.mock.post(
        "https://api.stripe.com/v1/billing_portal/sessions",
        json={
            "id": "bps_1",
            "object": "billing_portal.session",
            "url": "https://billing.stripe.com/p/session/test_1",
        },
    )
    assert "Manage billing" in client.get("/orders").get_data(as_text=True)
    response = client.post("/orders/billing", data={"csrf_token": _csrf(client)})
    assert response.status_code == 303
    assert response.headers["Location"] == "https://billing.stripe.com/p/session/test_1"
    sent = stripe_api.mock.calls[-1].request.body
    assert "customer=cus_alice" in sent and "return_url=http%3A%2F%2Flocalhost%2Forders" in sent


def test_guest_checkouts_hide_the_billing_button_and_search_finds_none(
    client, logged_in, stripe_api
):
    stripe_api.add(checkout_session(ALICE, reference="GUEST"))
    stripe_api.mock.get(
        "https://api.stripe.com/v1/customers/search",
        json={
            "object": "search_result",
            "data": [],
            "has_more": False,
            "next_page": None,
            "url": "/v1/customers/search",
        },
    )
    assert "Manage billing" not in client.get("/orders").get_data(as_text=True)
    response = client.post("/orders/billing", data={"csrf_token": _csrf(client)})
    assert response.status_code == 302
    assert "no billing account" in client.get("/orders").get_data(as_text=True)


def test_the_billing_portal_needs_the_csrf_token(client, logged_in, stripe_api):
    assert client.post("/orders/billing").status_code == 400


# --- file details --------------------------------------------------------------------------


def test_files_show_a_checksum_and_an_updated_mark_when_changed_after_payment(
    client, logged_in, stripe_api, s3
):
    paid = payment_intent(charge=charge() | {"created": 1_600_000_000})
    session = _order(stripe_api, "FILES", paid)
    key = fulfil(s3, session, "result.zip", b"new version")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    etag = s3.head_object(Bucket="portal-test-files", Key=key)["ETag"].strip('"')
    assert f"<code>{etag[:8]}</code>" in html
    assert ">Updated<" in html


# --- timeline and invoices ---------------------------------------------------------------


def test_the_timeline_shows_placed_paid_each_refund_and_a_dispute(client, logged_in, stripe_api):
    paid = charge(amount=5000, refunded=3000) | {"created": 1_767_229_200, "disputed": True}
    paid["refunds"] = {
        "object": "list",
        "has_more": False,
        "url": "/v1/refunds",
        "data": [
            {"id": "re_2", "amount": 2000, "currency": "jpy", "created": 1_767_400_000},
            {"id": "re_1", "amount": 1000, "currency": "jpy", "created": 1_767_300_000},
        ],
    }
    session = _order(stripe_api, "TIMELINE", payment_intent(charge=paid))
    session["created"] = 1_767_225_600
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    timeline = html.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    steps = [part.split("</strong>", 1)[0] for part in timeline.split("<strong>")[1:]]
    assert steps == ["Order placed", "Paid", "Refunded", "Refunded", "Payment disputed"]
    assert timeline.index("¥1,000") < timeline.index("¥2,000")
    assert "Jan 1, 2026, 10:00\u202fAM" in timeline


def test_the_order_detail_is_still_one_stripe_call_with_the_timeline(client, logged_in, stripe_api):
    session = _order(stripe_api, "ONE-CALL", payment_intent(charge=charge()))
    client.get(f"/orders/{session['id']}")
    assert stripe_api.call_count == 1
    query = stripe_api.mock.calls[-1].request.url
    assert "payment_intent.latest_charge.refunds" in query and "invoice" in query


def test_an_order_with_an_invoice_links_to_it_and_its_pdf(client, logged_in, stripe_api):
    session = _order(stripe_api, "INVOICED", payment_intent(charge=charge()))
    session["invoice"] = {
        "id": "in_1",
        "hosted_invoice_url": "https://invoice.stripe.com/i/test_1",
        "invoice_pdf": "https://pay.stripe.com/invoice/test_1/pdf",
    }
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert 'href="https://invoice.stripe.com/i/test_1"' in html
    assert 'href="https://pay.stripe.com/invoice/test_1/pdf"' in html


def test_a_subscription_sign_up_shows_as_a_subscription_with_the_portal(
    client, logged_in, stripe_api
):
    session = checkout_session(ALICE, reference="SUB-1")
    session.update(mode="subscription", subscription="sub_1", customer="cus_alice")
    stripe_api.add(session)
    assert ">Subscription<" in client.get("/orders").get_data(as_text=True)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Manage your subscription" in html
