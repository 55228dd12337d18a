"""*Manage billing*: Stripe's billing portal for the right customer, and a clear message on
the page whenever it cannot be opened (never a 500)."""

from __future__ import annotations

import pytest

from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"


@pytest.fixture
def billing(stripe_api):
    stripe_api.serve_billing()
    return stripe_api


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/orders").get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _open_billing(client):  # type: ignore[no-untyped-def]
    return client.post("/orders/billing", data={"csrf_token": _csrf(client)})


def _order_of(customer: str) -> dict:
    session = checkout_session(ALICE, reference=f"ORDER-{customer}")
    session["customer"] = customer
    return session


def test_the_customer_on_the_orders_comes_before_search(client, logged_in, billing):
    billing.customers = [
        {"id": "cus_recorded", "email": ALICE, "created": 1},
        {"id": "cus_newer", "email": ALICE, "created": 2},
    ]
    billing.add(_order_of("cus_recorded"))
    answer = _open_billing(client)
    assert answer.status_code == 303 and answer.headers["Location"].endswith("cus_recorded")
    assert ("GET", "/v1/customers/search") not in billing.calls


def test_search_finds_the_customer_whatever_the_case_of_its_email(client, logged_in, billing):
    billing.customers = [{"id": "cus_typed", "email": "Alice@Example.com", "created": 1}]
    billing.add(checkout_session(ALICE, reference="GUEST"))
    assert _open_billing(client).headers["Location"].endswith("cus_typed")


def test_of_several_customers_with_the_email_the_newest_is_opened(client, logged_in, billing):
    billing.customers = [
        {"id": "cus_old", "email": ALICE, "created": 1},
        {"id": "cus_new", "email": ALICE, "created": 5},
    ]
    assert _open_billing(client).headers["Location"].endswith("cus_new")


def test_a_customer_with_another_email_is_never_opened(client, logged_in, billing):
    # What a looser search (or a lookalike address) could find is not this customer.
    billing.customers = [{"id": "cus_other", "email": "alice@example.com.evil", "created": 1}]
    billing.search_finds = billing.customers
    answer = _open_billing(client)
    assert answer.status_code == 302
    assert "no billing account" in client.get("/orders").get_data(as_text=True)


def test_a_deleted_customer_on_the_orders_falls_back_to_search(client, logged_in, billing):
    billing.customers = [{"id": "cus_current", "email": ALICE, "created": 3}]
    billing.add(_order_of("cus_deleted"))
    assert _open_billing(client).headers["Location"].endswith("cus_current")


def test_a_customer_search_has_not_caught_up_with_says_to_try_again_soon(
    client, logged_in, billing
):
    answer = _open_billing(client)
    assert answer.status_code == 302
    page = client.get("/orders").get_data(as_text=True)
    assert "no billing account" in page and "try again in a few minutes" in page


def test_a_portal_never_set_up_is_a_message_and_a_log_line(client, logged_in, billing, caplog):
    billing.customers = [{"id": "cus_alice", "email": ALICE, "created": 1}]
    billing.portal_configured = False
    answer = _open_billing(client)
    assert answer.status_code == 302
    assert "not available yet" in client.get("/orders").get_data(as_text=True)
    logged = [r.getMessage() for r in caplog.records if "billing_portal" in r.getMessage()]
    assert logged and "default configuration has not been created" in logged[0]


@pytest.mark.parametrize("status", [403, 500])
def test_a_refused_or_failed_portal_is_a_message_not_an_error_page(
    client, logged_in, billing, status
):
    billing.add(_order_of("cus_alice"))
    client.get("/orders")  # the order list is cached; now Stripe starts failing
    if status == 403:
        billing.refuse_permission("rak_customer_portal_write")
    else:
        billing.fail_with = 500
    answer = _open_billing(client)
    assert answer.status_code == 302
    flashed = client.get("/orders").get_data(as_text=True)
    assert "cannot be opened right now" in flashed
