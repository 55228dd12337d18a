"""What a buyer looks for after paying: receipts, vouchers, transfers, failures, refunds."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

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


KONBINI_STORES = {
    "familymart": {"confirmation_number": None, "payment_code": "123456789012"},
    "lawson": {"confirmation_number": "654321", "payment_code": "223456789012"},
    "ministop": {"confirmation_number": "654321", "payment_code": "323456789012"},
    "seicomart": {"confirmation_number": "654321", "payment_code": "423456789012"},
}


def _konbini(expires_at: int) -> dict:
    return {
        "type": "konbini_display_details",
        "konbini_display_details": {
            "expires_at": expires_at,
            "hosted_voucher_url": "https://payments.stripe.com/konbini/voucher/test_123",
            "stores": KONBINI_STORES,
        },
    }


def test_a_konbini_order_shows_each_chains_numbers_and_how_to_pay(client, logged_in, stripe_api):
    intent = payment_intent(status="requires_action", next_action=_konbini(1_893_456_000))
    intent["payment_method_types"] = ["konbini"]
    session = _order(stripe_api, "KONBINI", intent, payment_status="unpaid")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Pay at a convenience store" in html
    for chain, name in [
        ("familymart", "FamilyMart"),
        ("lawson", "Lawson"),
        ("seicomart", "Seicomart"),
    ]:
        section = html.split(f'id="store-{chain}">', 1)[1].split("</section>", 1)[0]
        assert name in section and KONBINI_STORES[chain]["payment_code"] in section
    lawson = html.split('id="store-lawson">', 1)[1].split("</section>", 1)[0]
    assert "Confirmation number" in lawson and "654321" in lawson and "Loppi" in lawson
    familymart = html.split('id="store-familymart">', 1)[1].split("</section>", 1)[0]
    assert "Confirmation number" not in familymart  # Stripe sent none for it
    # The deadline in the shop's zone with its weekday; Stripe's page stays as a second way.
    assert '<time datetime="2030-01-01T00:00:00+00:00">Tue, Jan 1, 9:00\u202fAM</time>' in html
    assert 'href="https://payments.stripe.com/konbini/voucher/test_123"' in html
    # Copy buttons come from a same-origin script (the page's CSP allows nothing else).
    assert 'data-copy="code-lawson"' in html and 'src="/static/copy.js"' in html
    assert "<script>" not in html


def test_a_konbini_deadline_says_the_weekday_and_days_left_in_japanese(
    client, logged_in, stripe_api
):
    soon = int(time.time()) + 2 * 86400 + 3600
    intent = payment_intent(status="requires_action", next_action=_konbini(soon))
    intent["payment_method_types"] = ["konbini"]
    session = _order(stripe_api, "KONBINI-JA", intent, payment_status="unpaid")
    ja = {"Accept-Language": "ja"}
    deadline = datetime.fromtimestamp(soon, ZoneInfo("Asia/Tokyo"))
    weekday = "月火水木金土日"[deadline.weekday()]
    days = (deadline.date() - datetime.now(ZoneInfo("Asia/Tokyo")).date()).days
    listing = client.get("/orders", headers=ja).get_data(as_text=True)
    assert "お支払い待ち" in listing
    assert "期限 <time datetime" in listing and f"{deadline:%m/%d}({weekday})" in listing
    assert f"(あと{days}日)" in listing
    detail = client.get(f"/orders/{session['id']}", headers=ja).get_data(as_text=True)
    assert (
        f"{deadline:%m/%d}({weekday}) {deadline.hour}:{deadline:%M}</time> までにお支払いください"
        in detail
    )
    assert "ローソン" in detail and "店内のLoppiで" in detail


def test_a_konbini_order_past_its_deadline_reads_as_lapsed_and_offers_to_buy_again(
    client, logged_in, stripe_api, settings
):
    intent = payment_intent(status="requires_action", next_action=_konbini(1_600_000_000))
    intent["payment_method_types"] = ["konbini"]
    session = _order(stripe_api, "LAPSED", intent, payment_status="unpaid")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Payment deadline passed" in html and "not paid by its deadline" in html
    # Never "files come after payment" on an order that can no longer be paid.
    assert "once your payment has been received" not in html and "Downloads" not in html
    assert "Payment deadline passed" in client.get("/orders").get_data(as_text=True)


def test_a_bank_transfer_order_shows_the_account_amount_and_reference(
    client, logged_in, stripe_api
):
    action = {
        "type": "display_bank_transfer_instructions",
        "display_bank_transfer_instructions": {
            "amount_remaining": 5400,
            "currency": "jpy",
            "financial_addresses": [
                {
                    "type": "zengin",
                    "supported_networks": ["zengin"],
                    "zengin": {
                        "account_holder_name": "ｼｽﾞｸ ｼﾔｼﾝ",
                        "account_number": "1234567",
                        "account_type": "futsu",
                        "bank_code": "0009",
                        "bank_name": "三井住友銀行",
                        "branch_code": "950",
                        "branch_name": "ｽﾄﾗｲﾌﾟ",
                    },
                }
            ],
            "hosted_instructions_url": "https://payments.stripe.com/bank_transfers/instructions/x",
            "reference": "ABCD1234",
            "type": "jp_bank_transfer",
        },
    }
    intent = payment_intent(status="requires_action", next_action=action)
    intent["payment_method_types"] = ["customer_balance"]
    session = _order(stripe_api, "TRANSFER", intent, payment_status="unpaid")
    html = client.get(f"/orders/{session['id']}", headers={"Accept-Language": "ja"})
    page = html.get_data(as_text=True)
    assert "銀行振込でのお支払い" in page and "￥5,400" in page
    for shown in ("三井住友銀行 (0009)", "ｽﾄﾗｲﾌﾟ (950)", "普通", "1234567", "ｼｽﾞｸ ｼﾔｼﾝ", "ABCD1234"):
        assert shown in page, shown
    assert 'href="https://payments.stripe.com/bank_transfers/instructions/x"' in page
    assert "お振込み待ち" in client.get("/orders", headers={"Accept-Language": "ja"}).get_data(
        as_text=True
    )


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
    assert "Refunded" in html and "can no longer be downloaded" in html
    assert "/files/result.zip" not in html


def test_a_download_link_kept_from_before_a_refund_says_the_order_was_refunded(
    client, logged_in, stripe_api, s3
):
    session = _order(stripe_api, "KEPT", payment_intent(charge=charge(amount=5000, refunded=5000)))
    fulfil(s3, session, "result.zip")
    answer = client.get(f"/orders/{session['id']}/files/result.zip")
    assert answer.status_code == 410
    page = answer.get_data(as_text=True)
    assert "This order was refunded" in page and "Order not found" not in page
    assert f'href="/orders/{session["id"]}"' in page
    ja = client.get(
        f"/orders/{session['id']}/files/result.zip", headers={"Accept-Language": "ja"}
    ).get_data(as_text=True)
    assert "このご注文は返金済みです" in ja


def test_someone_elses_refunded_order_is_still_not_found(client, logged_in, stripe_api, s3):
    intent = payment_intent(charge=charge(amount=5000, refunded=5000))
    session = checkout_session("mallory@example.com", reference="NOT-YOURS")
    session["payment_intent"] = intent["id"]
    session["_intent"] = intent
    stripe_api.add(session)
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 404


@pytest.mark.parametrize(
    ("method", "says"),
    [
        ("card", "goes back to the card you paid with"),
        ("konbini", "emails you at the address used for this order"),
        ("customer_balance", "refunded to a bank account"),
    ],
)
def test_a_refund_says_where_and_when_the_money_returns_for_the_way_it_was_paid(
    client, logged_in, stripe_api, method, says
):
    paid = charge(amount=5000, refunded=2000)
    paid["payment_method_details"] = {"type": method, method: {}}
    session = _order(stripe_api, f"REFUND-{method}", payment_intent(charge=paid))
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Partial refund" in html and "¥2,000 of ¥5,000 has been refunded" in html
    assert says in html


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
    # The check value is there for those who look for it, folded away for the rest.
    checksum = html.split('<details class="checksum">', 1)[1].split("</details>", 1)[0]
    assert etag[:8] in checksum
    assert ">Updated<" in html and "after your purchase" in html


def test_each_file_is_a_button_with_its_type_and_size_and_honest_link_lifetime(
    client, logged_in, stripe_api, s3
):
    session = _order(stripe_api, "BUTTONS", payment_intent(charge=charge()))
    fulfil(s3, session, "photos.zip", b"x" * 2048)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    button = html.split('<a class="button download"', 1)[1].split("</a>", 1)[0]
    assert "photos.zip" in button and "ZIP · 2.0 KB" in button
    assert "Each click makes a new download link that works for 5 minutes" in html


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
    # Two refunds of part of the order each read as a partial refund (一部返金).
    assert steps == [
        "Order placed",
        "Paid",
        "Partly refunded",
        "Partly refunded",
        "Payment disputed",
    ]
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
