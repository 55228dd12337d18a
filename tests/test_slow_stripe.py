"""When Stripe is busy or slow: rate limits, a time budget for long reads, and dated views
that ask Stripe for their dates only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal import create_app
from portal.stripe import queries
from tests.conftest import AuthActions, with_settings
from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"
#: 2026-01-10 00:00 in Tokyo (the test shop's zone), as a Unix time.
JAN_10_TOKYO = int(datetime(2026, 1, 9, 15, 0, tzinfo=UTC).timestamp())
DAY = 86_400


# --- rate limits ---------------------------------------------------------------------------


def test_a_short_retry_after_is_waited_out_and_the_page_shows(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE, reference="PATIENT"))
    stripe_api.rate_limit(retry_after=1, times=1)
    response = client.get("/orders")
    assert response.status_code == 200 and "PATIENT" in response.get_data(as_text=True)
    assert stripe_api.call_count == 3  # the limited call once more, and the other spelling


@pytest.mark.parametrize(("retry_after", "told"), [(None, "30"), (120, "120")])
def test_a_rate_limit_without_a_short_retry_after_is_the_503_page(
    client, logged_in, stripe_api, retry_after, told
):
    stripe_api.rate_limit(retry_after=retry_after)
    response = client.get("/orders")
    assert response.status_code == 503 and "temporarily unavailable" in response.get_data(
        as_text=True
    )
    assert response.headers["Retry-After"] == told
    assert stripe_api.call_count == 2  # never retried blindly


def test_a_rate_limit_serves_the_copy_read_before_with_its_time(settings, s3, stripe_api, idp_url):
    app = create_app(with_settings(settings, cache_ttl_seconds=0))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    stripe_api.add(checkout_session(ALICE, reference="KEPT"))
    client.get("/orders")
    stripe_api.rate_limit(retry_after=30)
    page = client.get("/orders").get_data(as_text=True)
    assert "KEPT" in page and "looked at" in page


# --- a dated view asks for its dates ------------------------------------------------------


@pytest.fixture
def a_year_of_orders(stripe_api):
    """One order a day for a year before 2026-01-20 (Tokyo), one on 2026-01-10."""
    stripe_api.add(
        *(
            checkout_session(ALICE, reference=f"D-{n:03d}", created=JAN_10_TOKYO + 3600 - n * DAY)
            for n in range(-10, 355)
        )
    )


def test_a_dated_view_asks_stripe_for_that_range_only(
    client, logged_in, stripe_api, a_year_of_orders
):
    html = client.get("/orders?from=2026-01-10&to=2026-01-10").get_data(as_text=True)
    assert "D-000" in html and "D-001" not in html and "D-999" not in html
    assert stripe_api.call_count == 2  # one list call per spelling, not the year's four each
    for call in stripe_api.mock.calls:
        assert call.request.params["created[gte]"] == str(JAN_10_TOKYO)
        assert call.request.params["created[lte]"] == str(JAN_10_TOKYO + DAY - 1)


def test_a_dated_export_holds_the_days_asked_for(client, logged_in, stripe_api, a_year_of_orders):
    body = client.get("/orders.json?from=2026-01-09&to=2026-01-10").json
    assert [o["order_id"] for o in body["orders"]] == ["D-000", "D-001"]
    assert body["complete"] is True


def test_the_whole_history_and_a_dated_view_are_kept_apart(
    client, logged_in, stripe_api, a_year_of_orders
):
    assert len(client.get("/orders.json").json["orders"]) == 365
    assert len(client.get("/orders.json?from=2026-01-10&to=2026-01-10").json["orders"]) == 1


# --- a time budget for long reads ---------------------------------------------------------


def test_a_history_read_past_its_time_budget_shows_what_it_has_and_says_so(
    client, logged_in, stripe_api, a_year_of_orders, monkeypatch, caplog
):
    monkeypatch.setattr(queries, "HISTORY_BUDGET_SECONDS", 0.0)  # spent after the first page
    html = client.get("/orders?status=paid").get_data(as_text=True)
    assert "D-000" in html and "older orders may be missing" in html
    assert stripe_api.call_count == 2  # the first page of each spelling, no more
    assert any("order history incomplete" in r.getMessage() for r in caplog.records)


def test_an_export_cut_short_says_so_in_its_name_and_body(
    client, logged_in, stripe_api, a_year_of_orders, monkeypatch
):
    monkeypatch.setattr(queries, "HISTORY_BUDGET_SECONDS", 0.0)
    exported = client.get("/orders.json")
    assert exported.json["complete"] is False and len(exported.json["orders"]) == 100
    assert 'filename="orders-incomplete.json"' in exported.headers["Content-Disposition"]
    csv = client.get("/orders.csv")
    assert 'filename="order-history-incomplete.csv"' in csv.headers["Content-Disposition"]
    raw = client.get("/orders.csv?format=raw")
    assert 'filename="orders-incomplete.csv"' in raw.headers["Content-Disposition"]


def test_a_complete_history_says_nothing_of_the_kind(client, logged_in, stripe_api):
    stripe_api.add(checkout_session(ALICE, reference="ALL"))
    assert "may be missing" not in client.get("/orders?status=paid").get_data(as_text=True)
    exported = client.get("/orders.csv")
    assert 'filename="order-history.csv"' in exported.headers["Content-Disposition"]
    raw = client.get("/orders.csv?format=raw")
    assert 'filename="orders.csv"' in raw.headers["Content-Disposition"]
