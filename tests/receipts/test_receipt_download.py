"""A buyer downloads the 領収書 of a paid order: every field, once issued, re-issued honestly."""

from __future__ import annotations

import json
import logging
import re

import responses

from tests.receipts.conftest import ADDRESS, ISSUER, NUMBER, csrf_token, pdf_text, taxed_order
from tests.support.stripe_fixtures import checkout_session, fixture
from tests.support.stripe_stub import API


def _download(client, session_id: str, **typed: str):
    page = client.get(f"/orders/{session_id}").get_data(as_text=True)
    data = {"csrf_token": csrf_token(page), **typed}
    return client.post(f"/orders/{session_id}/receipt", data=data)


def test_the_receipt_form_is_labelled_in_the_pages_language(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    client.set_cookie("portal_lang", "ja")
    japanese = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert re.search(r"<label[^>]*>宛名</label>", japanese)
    assert re.search(r"<label[^>]*>但し書き</label>", japanese)
    client.set_cookie("portal_lang", "en")
    english = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert re.search(r"<label[^>]*>Name on the receipt</label>", english)


def test_the_japanese_receipt_carries_every_field(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    client.set_cookie("portal_lang", "ja")
    response = _download(client, session["id"], addressee="株式会社テスト", purpose="書籍代として")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    text = pdf_text(response.data)
    for expected in [
        "領収書",
        "株式会社テスト 様",
        "但し 書籍代として",
        ISSUER,
        ADDRESS,
        f"登録番号 {NUMBER}",
        "取引日\n2026年11月1日",  # paid at 15:30 UTC on Oct 31: Nov 1 in Tokyo
        "ORDER-42",
        "写真集",
        "写真集\n2\n￥3,300",
        "焼き菓子セット ※\n1\n￥1,080",
        "￥4,380",
        "10%対象: ￥3,300（税抜 ￥3,000、消費税 ￥300）",
        "8%対象（軽減税率）: ￥1,080（税抜 ￥1,000、消費税 ￥80）",
        "※は軽減税率対象",
        "税込",
    ]:
        assert expected in text, expected
    assert "再発行" not in text


def test_the_english_page_gets_an_english_receipt(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    text = pdf_text(_download(client, session["id"], addressee="Yamada Taro").data)
    for expected in ["Receipt", "Yamada Taro", "Transaction date", "November 1, 2026", "ORDER-42"]:
        assert expected in text, expected
    assert "10% items: ¥3,300 (excluding tax ¥3,000, consumption tax ¥300)" in text


def test_quantities_are_printed_with_each_item(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    text = pdf_text(_download(client, session["id"], addressee="Yamada Taro").data)
    assert "写真集\n2\n¥3,300" in text


def test_the_first_issue_is_remembered_on_the_payment_intent(
    client, logged_in, stripe_api, intents
):
    session = taxed_order(stripe_api)
    _download(client, session["id"], addressee="株式会社テスト", purpose="書籍代として")
    assert len(intents.writes) == 1
    written = intents.writes[0]
    assert written["portal_receipt_addressee"] == "株式会社テスト"
    assert written["portal_receipt_purpose"] == "書籍代として"
    assert written["portal_receipt_issued_at"].isdigit()


def test_a_second_download_is_a_reissue_with_the_first_name(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    _download(client, session["id"], addressee="株式会社テスト")
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "First issued on" in page and "株式会社テスト" in page
    again = client.post(
        f"/orders/{session['id']}/receipt",
        data={"csrf_token": csrf_token(page), "addressee": "Someone Else"},
    )
    text = pdf_text(again.data)
    assert "Reissued" in text
    assert "株式会社テスト\n" in text and "Someone Else" not in text
    assert len(intents.writes) == 1


def test_a_key_that_may_not_write_still_gets_a_receipt(
    client, logged_in, stripe_api, intents, caplog
):
    intents.refuse = True
    session = taxed_order(stripe_api)
    with caplog.at_level(logging.WARNING, logger="portal.stripe.receipt_memory"):
        response = _download(client, session["id"], addressee="Yamada Taro")
    assert response.status_code == 200
    assert "Reissued" not in pdf_text(response.data)
    assert "PaymentIntents: Write" in caplog.text
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "later downloads are copies" not in page


def test_a_blank_addressee_is_asked_for_when_the_shop_allows_no_uesama(
    client, logged_in, stripe_api, intents
):
    session = taxed_order(stripe_api)
    response = _download(client, session["id"], addressee="  ")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Please enter the name the receipt should be addressed to." in page
    assert intents.writes == []


def test_a_character_the_font_lacks_is_refused_with_a_clear_message(
    client, logged_in, stripe_api, intents
):
    session = taxed_order(stripe_api)
    response = _download(client, session["id"], addressee="𠮷田商店")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "cannot be printed on the receipt" in page
    assert intents.writes == []


def test_a_fully_refunded_order_gets_no_receipt(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api, refunded=4380)
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "refunded in full, so no receipt can be issued" in page
    response = client.post(
        f"/orders/{session['id']}/receipt",
        data={"csrf_token": csrf_token(page), "addressee": "Yamada Taro"},
    )
    assert response.status_code == 409
    assert response.mimetype == "text/html"
    assert intents.writes == []


def test_a_partly_refunded_order_shows_the_refund(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api, refunded=1080)
    text = pdf_text(_download(client, session["id"], addressee="Yamada Taro").data)
    assert "Refunded\n-¥1,080" in text
    assert "Paid after refunds\n¥3,300" in text
    assert "¥3,300 -" in text  # the amount received


def test_another_customers_order_has_no_receipt(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api, email="bob@example.com")
    page = client.get("/orders").get_data(as_text=True)
    response = client.post(
        f"/orders/{session['id']}/receipt",
        data={"csrf_token": csrf_token(page), "addressee": "Alice"},
    )
    assert response.status_code == 404
    assert intents.writes == []


def test_a_receipt_needs_the_forms_csrf_token(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    response = client.post(f"/orders/{session['id']}/receipt", data={"addressee": "Alice"})
    assert response.status_code == 400
    assert intents.writes == []


def test_an_unpaid_order_has_no_receipt_form(client, logged_in, stripe_api, intents):
    session = checkout_session("alice@example.com", payment_status="unpaid")
    stripe_api.add(session)
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "A receipt can be issued once your payment has been received." in page
    assert 'name="addressee"' not in page


def test_the_order_page_explains_each_document_and_its_tax(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert 'id="documents"' in page
    assert "This is the document to submit for expense claims." in page
    assert "qualified invoice" in page
    assert "Our payment provider’s confirmation" in page
    assert "(tax included)" in page and "Consumption tax ¥380" in page


def test_a_subscription_orders_first_issue_is_remembered_on_its_invoice(
    client, logged_in, stripe_api
):
    # Subscription-mode sessions have no payment intent: the invoice carries the memory.
    session = checkout_session("alice@example.com", reference="SUB-1", amount=1100)
    invoice = fixture("invoice")
    invoice.update(id="in_test_sub1", metadata={}, hosted_invoice_url=None, invoice_pdf=None)
    session.update(mode="subscription", payment_intent=None, invoice=invoice)
    stripe_api.add(session)
    written = []

    def update(request):
        written.append(request.url)
        return 200, {"Request-Id": "req_inv"}, json.dumps(invoice)

    stripe_api.mock.add_callback(
        responses.POST, re.compile(re.escape(API) + r"/v1/invoices/in_test_sub1$"), update
    )
    response = _download(client, session["id"], addressee="Yamada Taro")
    assert response.status_code == 200
    assert written == [f"{API}/v1/invoices/in_test_sub1"]


def test_a_malformed_order_id_or_overlong_name_is_a_clear_answer(
    client, logged_in, stripe_api, intents
):
    session = taxed_order(stripe_api)
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    token = csrf_token(page)
    missing = client.post("/orders/../../etc/receipt", data={"csrf_token": token})
    assert missing.status_code == 404
    bogus = client.post("/orders/cs_test_%00%ff/receipt", data={"csrf_token": token})
    assert bogus.status_code == 404
    long_name = client.post(
        f"/orders/{session['id']}/receipt", data={"csrf_token": token, "addressee": "あ" * 61}
    )
    assert long_name.status_code == 303
    assert "60" in client.get(long_name.headers["Location"]).get_data(as_text=True)
    assert intents.writes == []


def test_shipping_is_a_line_of_the_receipt_and_of_its_tax(client, logged_in, stripe_api, intents):
    session = taxed_order(stripe_api)
    rate = session["_items"][0]["taxes"][0]["rate"]
    session["shipping_cost"] = {
        "amount_subtotal": 550,
        "amount_tax": 50,
        "amount_total": 550,
        "shipping_rate": "shr_test",
        "taxes": [{"amount": 50, "rate": rate, "taxability_reason": None, "taxable_amount": 500}],
    }
    session["amount_total"] = 4930
    session["total_details"]["amount_tax"] = 430
    text = pdf_text(_download(client, session["id"], addressee="Yamada Taro").data)
    assert "Shipping\n1\n¥550" in text
    assert "10% items: ¥3,850 (excluding tax ¥3,500, consumption tax ¥350)" in text
    assert "Total\n¥4,930" in text


def test_the_order_page_lists_shipping_so_its_lines_add_up_to_the_total(
    client, logged_in, stripe_api, intents
):
    session = taxed_order(stripe_api)
    session["shipping_cost"] = {
        "amount_subtotal": 550,
        "amount_tax": 0,
        "amount_total": 550,
        "shipping_rate": "shr_test",
    }
    session["amount_total"] = 4400
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    items = page.split('<table class="items">', 1)[1].split("</table>", 1)[0]
    assert re.search(r">Shipping</th>.*¥550", items, flags=re.S)
    assert re.search(r"Total</th><td[^>]*>¥4,400", items)
