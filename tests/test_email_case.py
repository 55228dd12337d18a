"""An order whose checkout email differs from the login email only in letter case is the
customer's: listed, searchable and exported, whatever the case of either.

Stripe's ``customer_details[email]`` filter is exact and case-sensitive, so the portal asks
for the usual spellings side by side, and for spellings learned from verified checkouts.
"""

from __future__ import annotations

import json

import pytest

from tests.support.stripe_fixtures import checkout_session, fixture
from tests.test_webhooks import post, sign


@pytest.mark.parametrize(
    ("typed_at_checkout", "login"),
    [
        ("Hanako@example.jp", "hanako@example.jp"),  # phones capitalise the first letter
        ("hanako@example.jp", "Hanako@example.jp"),
        ("Hanako@example.jp", "HANAKO@EXAMPLE.JP"),
        ("hanako@example.jp", "HANAKO@EXAMPLE.JP"),
    ],
)
def test_an_order_in_another_letter_case_is_listed_searchable_and_exported(
    client, auth, stripe_api, typed_at_checkout, login
):
    stripe_api.add(checkout_session(typed_at_checkout, reference="CASE-1"))
    assert auth.login(login).status_code == 302
    assert "CASE-1" in client.get("/orders").get_data(as_text=True)
    assert "CASE-1" in client.get("/orders?q=CASE").get_data(as_text=True)
    assert "CASE-1" in client.get("/orders.csv").get_data(as_text=True)


def test_the_spellings_are_asked_for_side_by_side(client, auth, stripe_api):
    stripe_api.add(checkout_session("Hanako@example.jp", reference="SIDE"))
    auth.login("hanako@example.jp")
    stripe_api.delay_seconds = 0.2
    client.get("/orders")
    assert stripe_api.call_count == 2 and stripe_api.most_in_flight == 2


def _completed(email: str, event_id: str) -> bytes:
    session = checkout_session(email, reference="LEARNED")
    session.pop("_items")
    body = fixture("event") | {
        "id": event_id,
        "type": "checkout.session.completed",
        "data": {"object": session},
    }
    return json.dumps(body).encode()


def test_a_spelling_seen_in_a_verified_checkout_is_asked_for_from_then_on(client, auth, stripe_api):
    stripe_api.add(checkout_session("HaNaKo@Example.JP", reference="ODD-CASE"))
    auth.login("hanako@example.jp")
    assert "ODD-CASE" not in client.get("/orders").get_data(as_text=True)
    payload = _completed("HaNaKo@Example.JP", "evt_odd_case")
    assert post(client, payload, sign(payload)).status_code == 200
    assert "ODD-CASE" in client.get("/orders").get_data(as_text=True)


def test_a_forged_checkout_teaches_no_spelling(client, auth, stripe_api):
    stripe_api.add(checkout_session("HaNaKo@Example.JP", reference="ODD-CASE"))
    payload = _completed("HaNaKo@Example.JP", "evt_forged")
    assert post(client, payload, sign(payload, secret="whsec_wrong")).status_code == 400
    auth.login("hanako@example.jp")
    assert "ODD-CASE" not in client.get("/orders").get_data(as_text=True)


def test_what_is_learned_is_which_letters_were_capitals_not_the_email(app, client, stripe_api):
    payload = _completed("HaNaKo@Example.JP", "evt_kept")
    post(client, payload, sign(payload))
    backend = app.extensions["portal.cache"]._backend
    kept = [
        (key, backend.get(key))
        for key in backend._cache  # SimpleCache: the test app's in-process store
        if key.startswith("spell:")
    ]
    ((key, value),) = kept
    assert "hanako" not in key.lower() and value == [(0, 2, 4, 7, 15, 16)]
