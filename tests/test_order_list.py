"""The order list a buyer scans: product first, the state to act on, a count, periods, search."""

from __future__ import annotations

import re
from datetime import date

import pytest

from portal import create_app
from portal.order_numbers import derived_number
from portal.orders.filters import preset_dates
from tests.conftest import AuthActions, with_settings
from tests.support.deliveries import fulfil, signed
from tests.support.stripe_fixtures import checkout_session, line_item, payment_intent

ALICE = "alice@example.com"


def _list(client, query: str = "", language: str = "en") -> str:
    response = client.get(f"/orders{query}", headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _row(html: str, text: str) -> str:
    rows = html.split('<tr class="order-row">')[1:]
    return next(row.split("</tr>", 1)[0] for row in rows if text in row)


def test_each_row_leads_with_the_product_and_links_with_a_name_that_reads_aloud(
    client, logged_in, stripe_api
):
    session = checkout_session(ALICE, reference="JP-1001", items=[line_item("写真集 A4", 5000)])
    stripe_api.add(session)
    row = _row(_list(client), "写真集 A4")
    link = row.split('<a class="order-link"', 1)[1].split("</a>", 1)[0]
    # The link is the product, with the order number for screen readers: never a bare id.
    assert "写真集 A4" in link and "Order number JP-1001" in link
    assert f'href="/orders/{session["id"]}"' in link
    assert row.index("写真集 A4") < row.index("JP-1001", row.index("</a>"))


def test_a_paid_order_with_files_says_it_can_be_downloaded_and_one_without_is_being_prepared(
    client, logged_in, stripe_api, s3
):
    ready = checkout_session(ALICE, reference="READY", items=[line_item("Album", 1000)])
    waiting = signed(
        checkout_session(ALICE, reference="WAITING", items=[line_item("Poster", 2000)])
    )
    stripe_api.add(ready, waiting)
    fulfil(s3, ready, "album.zip")
    html = _list(client, language="ja")
    assert "ダウンロードできます" in _row(html, "Album")
    assert "準備中" in _row(html, "Poster")


def test_an_order_whose_pipeline_wrote_only_its_status_is_not_ready_to_download(
    client, logged_in, stripe_api, s3
):
    failed = checkout_session(ALICE, reference="FAILED", items=[line_item("Film scan", 2000)])
    stripe_api.add(failed)
    fulfil(s3, failed, "_status.json", b'{"state": "failed"}')
    row = _row(_list(client, language="ja"), "Film scan")
    assert "ダウンロードできます" not in row and "準備中" in row


def test_not_yet_is_remembered_for_the_cache_ttl_and_ready_for_longer(
    settings, s3, stripe_api, idp_url
):
    app = create_app(with_settings(settings, cache_ttl_seconds=0))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    session = signed(checkout_session(ALICE, reference="LATER", items=[line_item("Book", 1000)]))
    stripe_api.add(session)
    assert "Being prepared" in _row(_list(client), "Book")
    key = fulfil(s3, session, "book.pdf")
    # With no TTL "not yet" was not kept: the file is seen at once.
    assert "Ready to download" in _row(_list(client), "Book")
    # "Ready" is kept: the list does not ask S3 again, even if the file went away.
    s3.delete_object(Bucket="portal-test-files", Key=key)
    assert "Ready to download" in _row(_list(client), "Book")


def test_the_list_counts_the_orders_it_knows(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"C-{n}") for n in range(120)))
    first = _list(client, language="ja")
    # One Stripe call reads 100 of them: the count says so rather than guessing.
    assert "100件を超えるご注文のうち 1–50件" in first
    third = _list(client, "?page=3", language="ja")
    assert "120件中 101–120件" in third


def test_a_filtered_list_counts_every_match(client, logged_in, stripe_api):
    stripe_api.add(*(checkout_session(ALICE, reference=f"F-{n}") for n in range(60)))
    assert "1–50 of 60 orders" in _list(client, "?q=F")


def test_period_presets_link_last_month_this_year_and_the_past_three_months(
    client, logged_in, stripe_api
):
    stripe_api.add(checkout_session(ALICE, reference="ANY"))
    html = _list(client, language="ja")
    presets = html.split('<nav class="presets"', 1)[1].split("</nav>", 1)[0]
    assert [label for label in re.findall(r">([^<>]+)</a>", presets)] == [
        "先月",
        "今年",
        "過去3か月",
    ]
    chosen = re.findall(r'href="([^"]+)"', presets)[1].replace("&amp;", "&")
    assert 'aria-current="true">今年<' in _list(client, chosen.removeprefix("/orders"), "ja")


@pytest.mark.parametrize(
    ("today", "preset", "expected"),
    [
        (date(2026, 12, 4), "last_month", (date(2026, 11, 1), date(2026, 11, 30))),
        (date(2026, 1, 15), "last_month", (date(2025, 12, 1), date(2025, 12, 31))),
        (date(2026, 12, 4), "this_year", (date(2026, 1, 1), date(2026, 12, 4))),
        (date(2026, 12, 4), "last_3_months", (date(2026, 9, 5), date(2026, 12, 4))),
        (date(2026, 5, 31), "last_3_months", (date(2026, 3, 1), date(2026, 5, 31))),
    ],
)
def test_preset_dates(today, preset, expected):
    assert preset_dates(preset, today) == expected


def test_an_empty_account_shows_no_filters_or_exports(client, logged_in, stripe_api):
    html = _list(client)
    assert "There are no orders for alice@example.com yet" in html
    assert 'role="search"' not in html and "/orders.csv" not in html and "presets" not in html


def test_a_filter_that_matches_nothing_keeps_the_form(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE, reference="ANY"))
    html = _list(client, "?q=nothing-like-this")
    assert "No orders match these filters." in html and 'role="search"' in html


@pytest.mark.parametrize(
    "typed",
    ["ＬＩＮＥ", "line スタンプ", "写真レタッチ（1枚）", "シズク", "R2001", "r-2001", "R－2001"],
)
def test_search_understands_japanese_input(client, logged_in, stripe_api, typed):
    stripe_api.add(
        checkout_session(ALICE, reference="R-2001", items=[line_item("LINEスタンプ", 1000)]),
        checkout_session(ALICE, reference="R-2002", items=[line_item("写真レタッチ(1枚)", 500)]),
        checkout_session(ALICE, reference="R-2003", items=[line_item("しずく", 800)]),
        checkout_session(ALICE, reference="R-2004", items=[line_item("Other", 100)]),
    )
    html = _list(client, f"?q={typed}")
    expected = {
        "ＬＩＮＥ": "R-2001",
        "line スタンプ": "R-2001",
        "写真レタッチ（1枚）": "R-2002",
        "シズク": "R-2003",
    }.get(typed, "R-2001")
    shown = re.findall(r'<td class="order-number" data-label="Order number">([^<]+)</td>', html)
    assert shown == [expected]


def test_a_derived_order_number_is_found_with_or_without_its_hyphens(client, logged_in, stripe_api):
    minted = "216e5820-c1b7-4f0e-9a3e-5b1c2d3e4f50"
    stripe_api.add(
        checkout_session(ALICE, reference=minted), checkout_session(ALICE, reference="X")
    )

    number = derived_number(minted)
    for typed in (number, number.replace("-", "")):
        html = _list(client, f"?q={typed}")
        assert re.findall(r'data-label="Order number">([^<]+)</td>', html) == [number]


def test_a_konbini_order_in_the_list_shows_its_deadline(client, logged_in, stripe_api):
    action = {
        "type": "konbini_display_details",
        "konbini_display_details": {"expires_at": 1_893_456_000, "stores": {}},
    }
    intent = payment_intent(status="requires_action", next_action=action)
    session = checkout_session(ALICE, reference="KONBINI", payment_status="unpaid")
    session["payment_intent"], session["_intent"] = intent["id"], intent
    stripe_api.add(session)
    row = _row(_list(client), "KONBINI")
    assert "Awaiting payment" in row and "Pay by <time" in row and "Tue, Jan 1" in row


def test_status_and_dates_fold_away_until_one_is_set(client, logged_in, stripe_api):
    """On a phone the list starts near the top; a set status or date stays in view."""
    stripe_api.add(checkout_session("alice@example.com", reference="FOLD-1"))
    plain = client.get("/orders").get_data(as_text=True)
    assert re.search(r'<details class="more-filters">\s*<summary>Status and dates', plain)
    assert 'id="f-q"' in plain.split('<details class="more-filters"')[0]  # search stays out
    for query in ("status=paid", "from=2026-01-01", "to=2026-12-31"):
        shown = client.get(f"/orders?{query}").get_data(as_text=True)
        assert '<details class="more-filters" open>' in shown, query
