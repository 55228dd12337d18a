"""Filters in the URL, and the customer's own order history as JSON and CSV."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from tests.support.stripe_fixtures import charge, checkout_session, line_item, payment_intent

ALICE = "alice@example.com"
DAY = 86400
JAN_1_2026 = 1_767_225_600  # 2026-01-01T00:00:00Z


@pytest.fixture
def orders(stripe_api):
    """Alice's orders: paid, awaiting, refunded, on different days; one of Mallory's."""
    paid = checkout_session(
        ALICE, reference="PAID-1", created=JAN_1_2026, items=[line_item("Photo book", 5000)]
    )
    awaiting = checkout_session(
        ALICE,
        reference="WAIT-1",
        payment_status="unpaid",
        created=JAN_1_2026 + 10 * DAY,
        items=[line_item("Poster", 3000)],
    )
    refunded = checkout_session(
        ALICE,
        reference="=CMD|calc",
        created=JAN_1_2026 + 20 * DAY,
        items=[line_item("写真 Print", 1000)],
    )
    intent = payment_intent(charge=charge(amount=5000, refunded=5000))
    refunded["payment_intent"], refunded["_intent"] = intent["id"], intent
    stripe_api.add(
        paid, awaiting, refunded, checkout_session("mallory@example.com", reference="THEIRS")
    )
    return {"paid": paid, "awaiting": awaiting, "refunded": refunded}


def _shown(client, query: str) -> str:
    response = client.get(f"/orders?{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_status_filter_shows_only_matching_orders(client, logged_in, orders):
    html = _shown(client, "status=awaiting")
    assert "WAIT-1" in html and "PAID-1" not in html
    html = _shown(client, "status=refunded")
    assert "=CMD|calc" in html and "WAIT-1" not in html


def test_date_range_is_inclusive(client, logged_in, orders):
    html = _shown(client, "from=2026-01-11&to=2026-01-11")
    assert "WAIT-1" in html and "PAID-1" not in html and "=CMD|calc" not in html


def test_text_search_matches_order_ids_and_product_names(client, logged_in, orders):
    assert "PAID-1" in _shown(client, "q=photo+BOOK")
    html = _shown(client, "q=wait")
    assert "WAIT-1" in html and "PAID-1" not in html
    assert "No orders match" in _shown(client, "q=nothing-like-this")


@pytest.mark.parametrize(
    "query",
    [
        "status=bogus",
        "from=2026-13-45",
        "to=yesterday",
        "from=2026-02-01&to=2026-01-01",
        "from=%00",
        "status=%F0%9F%92%A5",
        "q=" + "x" * 5000,
    ],
)
def test_invalid_filters_are_ignored_with_a_notice(client, logged_in, orders, query):
    html = _shown(client, query)
    assert "PAID-1" in html or "No orders match" in html
    if "q=" not in query:
        assert "not applied" in html


def test_filters_combine_with_paging(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"R-{i:03d}") for i in range(120)))
    first = _shown(client, "status=paid&q=R-")
    assert 'rel="next" href="/orders?page=2&amp;status=paid&amp;q=R-"' in first
    last = _shown(client, "page=3&status=paid&q=R-")
    assert "R-000" in last and 'rel="next"' not in last


def test_a_filtered_view_reads_the_history_once_then_from_the_cache(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"R-{i:03d}") for i in range(250)))
    _shown(client, "status=paid")
    assert stripe_api.call_count == 4  # 3 pages of "alice@…", 1 empty list of "Alice@…"
    _shown(client, "status=paid&page=2")
    _shown(client, "q=R-1")
    assert stripe_api.call_count == 4


def test_json_export_is_the_customers_own_history_without_links(client, logged_in, orders):
    response = client.get("/orders.json")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="orders.json"'
    records = response.json["orders"]
    assert [r["order_id"] for r in records] == ["=CMD|calc", "WAIT-1", "PAID-1"]
    assert records[2] == {
        "order_id": "PAID-1",
        "session_id": orders["paid"]["id"],
        "created": "2026-01-01T00:00:00+00:00",
        "status": "paid",
        "currency": "JPY",
        "total": "5000",
        "refunded": None,
        "tax": None,
        "tax_by_rate": [],
        "tax_source": "none",
        "items": [{"description": "Photo book", "quantity": 1, "amount": "5000"}],
        "number": "PAID-1",
    }
    assert records[0]["refunded"] == "5000"
    body = response.get_data(as_text=True)
    assert "THEIRS" not in body and "receipt" not in body and "X-Amz" not in body


def test_exports_take_the_same_filters(client, logged_in, orders):
    records = client.get("/orders.json?status=awaiting").json["orders"]
    assert [r["order_id"] for r in records] == ["WAIT-1"]


def _csv(client, query: str = "", language: str = "en") -> list[dict[str, str]]:
    response = client.get(f"/orders.csv{query}", headers={"Accept-Language": language})
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_raw_csv_keeps_the_machine_form_and_defuses_formulas(client, logged_in, orders):
    rows = _csv(client, "?format=raw")
    assert [r["order_id"] for r in rows] == ["'=CMD|calc", "WAIT-1", "PAID-1"]
    assert rows[0]["items"] == "写真 Print x 1"
    assert rows[2]["total"] == "5000" and rows[2]["currency"] == "JPY"
    assert rows[2]["created"] == "2026-01-01T00:00:00+00:00" and rows[2]["status"] == "paid"


def test_the_csv_for_people_is_in_the_pages_language_with_local_times(client, logged_in, orders):
    response = client.get("/orders.csv", headers={"Accept-Language": "ja"})
    assert "order-history.csv" in response.headers["Content-Disposition"]
    rows = _csv(client, language="ja")
    assert list(rows[2]) == [
        "注文番号",
        "ご注文日時(日本時間)",
        "ステータス",
        "商品",
        "合計",
        "うち消費税",
        "通貨",
        "返金額",
        "注文ID(ショップの参照番号)",
    ]
    # 2026-01-01 00:00 UTC is 09:00 in Tokyo; the status in words, not a code.
    assert rows[2]["ご注文日時(日本時間)"] == "2026/01/01 09:00"
    assert rows[2]["ステータス"] == "お支払い済み" and rows[1]["ステータス"] == "お支払い待ち"
    assert rows[2]["商品"] == "Photo book × 1" and rows[2]["合計"] == "5000"
    assert rows[0]["返金額"] == "5000" and rows[0]["注文番号"] == "'=CMD|calc"
    english = _csv(client)
    assert english[2]["Ordered on (Japan Time)"] == "2026-01-01 09:00"
    assert english[2]["Status"] == "Paid"
    assert "Refunded amount" in english[2]


def test_exports_need_a_login(client):
    assert client.get("/orders.json").status_code == 302
    assert client.get("/orders.csv").status_code == 302


@pytest.mark.parametrize("path", ["/orders", "/orders.json", "/orders.csv"])
@pytest.mark.parametrize(
    "args", ["to=9999-12-31", "from=0001-01-01", "from=9999-12-31&to=9999-12-31"]
)
def test_a_date_at_the_end_of_the_calendar_is_a_notice_not_an_error(
    client, logged_in, stripe_api, caplog, path, args
):
    stripe_api.add(checkout_session(ALICE, reference="ANY-DAY"))
    response = client.get(f"{path}?{args}")
    assert response.status_code == 200
    assert "ANY-DAY" in response.get_data(as_text=True)  # the date is not applied
    if path == "/orders":
        assert "date is out of range and is not applied" in response.get_data(as_text=True)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
