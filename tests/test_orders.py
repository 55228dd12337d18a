"""A logged-in customer's orders: listing, paging, detail, ownership, downloads, outages."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from tests.support.deliveries import fulfil, signed
from tests.support.stripe_fixtures import checkout_session, line_item

ALICE = "alice@example.com"


def test_orders_require_login(client):
    response = client.get("/orders")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")


def test_orders_lists_the_customers_orders_newest_first(client, logged_in, stripe_api):
    older = checkout_session(ALICE, reference="ORDER-OLD", created=1_700_000_000)
    newer = checkout_session(ALICE, reference="ORDER-NEW", created=1_700_000_100)
    stripe_api.add(older, newer)
    html = client.get("/orders").get_data(as_text=True)
    assert html.index("ORDER-NEW") < html.index("ORDER-OLD")
    assert "Photo book" in html
    assert "Paid" in html


def test_orders_of_other_customers_are_not_listed(client, logged_in, stripe_api):
    stripe_api.add(checkout_session("mallory@example.com", reference="NOT-YOURS"))
    assert b"NOT-YOURS" not in client.get("/orders").data


def test_money_is_shown_in_the_currencys_minor_units(client, logged_in, stripe_api):
    stripe_api.add(
        checkout_session(ALICE, reference="JPY-ORDER", amount=5000, currency="jpy"),
        checkout_session(ALICE, reference="USD-ORDER", amount=1999, currency="usd"),
    )
    html = client.get("/orders").get_data(as_text=True)
    assert "¥5,000" in html
    assert "$19.99" in html


def test_unpaid_konbini_order_shows_awaiting_payment(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE, reference="KONBINI-1", payment_status="unpaid"))
    assert "Awaiting payment" in client.get("/orders").get_data(as_text=True)


def test_order_without_reference_shows_its_session_id(client, logged_in, stripe_api):
    session = checkout_session(ALICE, reference=None)
    stripe_api.add(session)
    assert session["id"].encode() in client.get("/orders").data


def test_open_and_expired_sessions_are_not_orders(client, logged_in, stripe_api):
    opened = checkout_session(ALICE, reference="OPEN-1", status="open", payment_status="unpaid")
    expired = checkout_session(ALICE, reference="EXPIRED-1", status="expired")
    stripe_api.add(opened, expired)
    html = client.get("/orders").get_data(as_text=True)
    assert "OPEN-1" not in html and "EXPIRED-1" not in html
    assert client.get(f"/orders/{opened['id']}").status_code == 404
    assert client.get(f"/orders/{expired['id']}").status_code == 404


def test_the_list_asks_stripe_only_for_complete_sessions_of_the_email(
    client, logged_in, stripe_api
):
    client.get("/orders")
    # Stripe's email filter is exact: the usual spellings are asked for side by side.
    assert stripe_api.calls == [("GET", "/v1/checkout/sessions")] * 2
    asked = {c.request.params["customer_details[email]"] for c in stripe_api.mock.calls}
    assert asked == {"alice@example.com", "Alice@example.com"}
    assert {c.request.params["status"] for c in stripe_api.mock.calls} == {"complete"}


def _orders_on(client, page: int) -> tuple[list[str], str]:
    html = client.get(f"/orders?page={page}").get_data(as_text=True)
    refs = [part.split("<", 1)[0] for part in html.split(">REF-")[1:]]
    return [f"REF-{r}" for r in refs], html


def test_every_one_of_250_orders_is_reachable_through_the_pages(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"REF-{i:03d}") for i in range(250)))
    seen: list[str] = []
    costs = []
    page = 1
    while True:
        before = stripe_api.call_count
        refs, html = _orders_on(client, page)
        costs.append(stripe_api.call_count - before)
        seen.extend(refs)
        if 'rel="next"' not in html:
            break
        page += 1
    assert page == 5
    assert sorted(seen) == sorted(f"REF-{i:03d}" for i in range(250))
    assert len(seen) == len(set(seen)) == 250
    # Page 1 is one call per spelling ("alice@…", "Alice@…"); page 2 reads the history once
    # (3 calls for 250 orders, 1 for the empty spelling), and every later page is cut from it.
    assert costs == [2, 4, 0, 0, 0]


def test_pages_link_to_each_other(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"REF-{i:03d}") for i in range(60)))
    first = client.get("/orders").get_data(as_text=True)
    assert 'rel="next" href="/orders?page=2"' in first and 'rel="prev"' not in first
    second = client.get("/orders?page=2").get_data(as_text=True)
    assert 'rel="prev" href="/orders?page=1"' in second and 'rel="next"' not in second


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "²", "１", "99999999999999999999", ""])
def test_a_malformed_page_number_is_a_400_not_a_crash(client, logged_in, stripe_api, page):
    response = client.get(f"/orders?page={page}")
    assert response.status_code == 400
    assert stripe_api.call_count == 0


def test_a_page_past_the_last_is_not_found(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE))
    assert client.get("/orders?page=7").status_code == 404


def test_mixed_case_idp_email_finds_orders_under_both_spellings(client, auth, stripe_api):
    typed_as_given = checkout_session("Bob.Mixed@Example.COM", reference="AS-GIVEN")
    typed_lower = checkout_session("bob.mixed@example.com", reference="LOWER")
    stripe_api.add(typed_as_given, typed_lower)
    assert auth.login("Bob.Mixed@Example.COM").status_code == 302
    html = client.get("/orders").get_data(as_text=True)
    assert "AS-GIVEN" in html and "LOWER" in html
    assert client.get(f"/orders/{typed_lower['id']}").status_code == 200
    assert client.get(f"/orders/{typed_as_given['id']}").status_code == 200


def test_order_detail_shows_items_amounts_and_status(client, logged_in, stripe_api):
    session = checkout_session(
        ALICE,
        reference="DETAIL-1",
        amount=7000,
        items=[line_item("Print A4", 1000, 2), line_item("Frame", 5000, 1)],
    )
    stripe_api.add(session)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Order DETAIL-1" in html
    assert "Print A4" in html and "Frame" in html and "¥7,000" in html


def test_order_detail_reads_every_line_item_when_the_expansion_is_cut_short(
    client, logged_in, stripe_api
):
    items = [line_item(f"Sticker {i}", 100) for i in range(25)]
    session = checkout_session(ALICE, reference="MANY", amount=2500, items=items)
    stripe_api.add(session)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert all(f"Sticker {i}<" in html for i in range(25))
    assert ("GET", f"/v1/checkout/sessions/{session['id']}/line_items") in stripe_api.calls


def test_list_says_and_more_when_stripe_sent_only_the_first_items(client, logged_in, stripe_api):
    items = [line_item(f"Sticker {i}", 100) for i in range(12)]
    stripe_api.add(checkout_session(ALICE, reference="MANY", amount=1200, items=items))
    assert "and more" in client.get("/orders").get_data(as_text=True)
    assert stripe_api.call_count == 2  # the list, once per spelling: no line-item reads


def test_another_customers_order_is_not_found(client, logged_in, stripe_api):
    theirs = checkout_session("mallory@example.com", reference="THEIRS")
    stripe_api.add(theirs)
    response = client.get(f"/orders/{theirs['id']}")
    assert response.status_code == 404
    assert b"THEIRS" not in response.data


def test_a_missing_order_looks_the_same_as_someone_elses(client, logged_in, stripe_api):
    theirs = checkout_session("mallory@example.com")
    stripe_api.add(theirs)
    missing = client.get("/orders/cs_test_a1doesnotexist000000000000000000000")
    foreign = client.get(f"/orders/{theirs['id']}")
    assert missing.status_code == foreign.status_code == 404
    # The pages differ only where they link back to their own address (language switcher).
    assert _without_own_address(missing) == _without_own_address(foreign)


def _without_own_address(response) -> str:
    return re.sub(r"next=[^\"]*", "next=…", response.get_data(as_text=True))


@pytest.mark.parametrize(
    "session_id", ["x", "cs_", "pi_123456789012", "cs_test_../../etc", "cs_test_%00abc", "a" * 400]
)
def test_malformed_session_ids_are_not_found_without_asking_stripe(
    client, logged_in, stripe_api, session_id
):
    assert client.get(f"/orders/{session_id}").status_code == 404
    assert stripe_api.call_count == 0


def test_email_is_compared_case_insensitively_for_ownership(client, logged_in, stripe_api):
    session = checkout_session(" ALICE@Example.com ", reference="CASE-1")
    stripe_api.add(session)
    assert client.get(f"/orders/{session['id']}").status_code == 200


# --- files ------------------------------------------------------------------------------


def _put(s3, key: str, body: bytes = b"data") -> None:
    s3.put_object(Bucket="portal-test-files", Key=key, Body=body)


def test_paid_order_lists_its_files(client, logged_in, stripe_api, s3):
    session = checkout_session(ALICE, reference="FILES-1")
    stripe_api.add(session)
    fulfil(s3, session, "result.zip", b"x" * 2048)
    _put(s3, "orders/FILES-10/not-this-one.zip")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "result.zip" in html and "2.0 KB" in html
    assert "not-this-one" not in html


def test_paid_order_without_files_says_they_are_being_prepared(client, logged_in, stripe_api, s3):
    # Paid just now: an order past the shop's usual hours says it is delayed (tests/fulfilment).
    session = signed(checkout_session(ALICE, reference="PREPARING", created=int(time.time())))
    stripe_api.add(session)
    assert "being prepared" in client.get(f"/orders/{session['id']}").get_data(as_text=True)


def test_unpaid_order_offers_no_files(client, logged_in, stripe_api, s3):
    session = checkout_session(ALICE, reference="UNPAID", payment_status="unpaid")
    stripe_api.add(session)
    fulfil(s3, session, "result.zip")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "once your payment has been received" in html
    assert "/files/result.zip" not in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 404


def test_download_redirects_to_a_short_lived_presigned_url(client, logged_in, stripe_api, s3):
    session = checkout_session(ALICE, reference="DL-1")
    stripe_api.add(session)
    fulfil(s3, session, "写真 final.zip")
    response = client.get(f"/orders/{session['id']}/files/写真 final.zip")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    url = urlsplit(response.headers["Location"])
    query = parse_qs(url.query)
    assert url.path.endswith("/orders/DL-1/%E5%86%99%E7%9C%9F%20final.zip")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Expires"] == ["300"]
    disposition = query["response-content-disposition"][0]
    # Saved under the order number, so ten orders' files never collide in Downloads.
    assert disposition.startswith('attachment; filename="DL-1___ final.zip"')
    assert "filename*=UTF-8''DL-1_%E5%86%99%E7%9C%9F%20final.zip" in disposition


def test_downloaded_bytes_are_the_stored_file(client, logged_in, stripe_api, s3):
    session = checkout_session(ALICE, reference="DL-2")
    stripe_api.add(session)
    stored = fulfil(s3, session, "result.txt", b"hello customer")
    location = client.get(f"/orders/{session['id']}/files/result.txt").headers["Location"]
    key = unquote(urlsplit(location).path).lstrip("/").removeprefix("portal-test-files/")
    assert key == stored == "orders/DL-2/result.txt"
    assert s3.get_object(Bucket="portal-test-files", Key=key)["Body"].read() == b"hello customer"


@pytest.mark.parametrize(
    "name",
    ["../DL-3/result.txt", "..%2Fother%2Fsecret.txt", "result.txt/../../x", "%2e%2e/x", "nope.txt"],
)
def test_names_not_in_the_listing_are_not_found(client, logged_in, stripe_api, s3, name):
    session = checkout_session(ALICE, reference="DL-3")
    stripe_api.add(session)
    fulfil(s3, session, "result.txt")
    _put(s3, "other/secret.txt")
    assert client.get(f"/orders/{session['id']}/files/{name}").status_code == 404


def test_another_customers_file_is_not_found(client, logged_in, stripe_api, s3):
    theirs = checkout_session("mallory@example.com", reference="THEIRS")
    stripe_api.add(theirs)
    fulfil(s3, theirs, "result.zip")
    assert client.get(f"/orders/{theirs['id']}/files/result.zip").status_code == 404


def test_order_id_stripe_would_not_keep_has_no_files(client, logged_in, stripe_api, s3):
    session = checkout_session(ALICE, reference="../evil")
    stripe_api.add(session)
    _put(s3, "../evil/result.zip")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "result.zip" not in html


def test_download_requires_login(client, stripe_api, s3):
    response = client.get("/orders/cs_test_a1abcdefghijklmnop/files/x.zip")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_s3_failure_still_shows_the_order(client, logged_in, stripe_api, s3):
    session = signed(checkout_session(ALICE, reference="S3-DOWN"))
    stripe_api.add(session)
    s3.delete_bucket(Bucket="portal-test-files")  # listing now fails with NoSuchBucket
    response = client.get(f"/orders/{session['id']}")
    assert response.status_code == 200
    assert "cannot be listed right now" in response.get_data(as_text=True)


# --- Stripe failures ----------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_stripe_errors_show_a_503_with_retry_after(client, logged_in, stripe_api, status):
    stripe_api.fail_with = status
    response = client.get("/orders")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "temporarily unavailable" in response.get_data(as_text=True)


def test_stripe_unreachable_shows_a_503(client, logged_in, stripe_api):
    stripe_api.unreachable = True
    response = client.get("/orders")
    assert response.status_code == 503
    # One try and two retries for each of the two spellings, read side by side, until the
    # guard's breaker opens after 5 failures in a row (the last try may already be out).
    assert 5 <= stripe_api.call_count <= 6


def test_a_bad_stripe_key_is_the_unavailable_page_without_details(
    client, logged_in, stripe_api, caplog
):
    stripe_api.fail_with = 401
    response = client.get("/orders")
    assert response.status_code == 503
    body = response.get_data(as_text=True)
    assert "sk_test" not in body and "API Key" not in body and "Traceback" not in body
    assert any(r.levelname == "CRITICAL" for r in caplog.records)
    assert all("sk_test_portal1234" not in r.getMessage() for r in caplog.records)


# --- Payment Link return -----------------------------------------------------------------


def test_payment_return_when_logged_out_logs_in_then_comes_back(client, auth, stripe_api):
    session = checkout_session(ALICE, reference="RETURN-1")
    stripe_api.add(session)
    first = client.get(f"/orders/return?session_id={session['id']}")
    assert first.status_code == 302
    login_url = first.headers["Location"]
    assert login_url.startswith("/auth/login?next=")
    authorize_url = client.get(login_url).headers["Location"]
    auth.set_user("sub-alice", email=ALICE, email_verified=True)
    back = client.get(auth.authorize(authorize_url, "sub-alice"))
    assert back.headers["Location"] == f"/orders/return?session_id={session['id']}"
    order = client.get(back.headers["Location"])
    assert order.headers["Location"] == f"/orders/{session['id']}"
    assert "Thank you for your order" in client.get(order.headers["Location"]).get_data(
        as_text=True
    )


def test_payment_return_for_someone_elses_session_names_the_logged_in_email(
    client, logged_in, stripe_api
):
    theirs = checkout_session("other@example.com")
    stripe_api.add(theirs)
    response = client.get(f"/orders/return?session_id={theirs['id']}")
    assert response.status_code == 404
    assert ALICE in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query", ["", "?session_id=", "?session_id=garbage", "?session_id=cs_test_a1zzzzzzzzzzzzzzzz"]
)
def test_payment_return_with_unknown_or_bad_session_is_a_404(client, logged_in, stripe_api, query):
    assert client.get(f"/orders/return{query}").status_code == 404
