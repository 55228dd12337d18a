"""One email rule everywhere: ASCII whitespace trimmed, ASCII letters lower-cased, nothing
else folded — and addresses that could pass for someone else's are refused at login."""

from __future__ import annotations

import json
import logging

import pytest

from portal.emails import login_problem, normalize_email
from tests.support.stripe_fixtures import checkout_session

KEN = "ken@example.com"
#: Addresses a provider might verify that Python's lower()/strip() fold onto ken's.
LOOKALIKES = [
    "\u212aen@example.com",  # KELVIN SIGN
    "ken@example.com\u3000",  # ideographic space
    "ken@example.com\x85",  # NEXT LINE
    "ｋｅｎ@example.com",  # fullwidth letters
    "ken\u200b@example.com",  # zero-width space
    "ken@example.co\u0131",  # dotless i: upper() is I
    "\u017fen@example.com",  # LONG S: upper() is S
]


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        (" Ken@Example.COM\t\r\n", KEN),
        ("\u212aen@example.com", "\u212aen@example.com"),
        ("ken@example.com\u3000", "ken@example.com\u3000"),
        ("\x85ken@example.com", "\x85ken@example.com"),
        ("ÉLISE@example.fr", "Élise@example.fr"),
        ("山田@例え.jp", "山田@例え.jp"),
    ],
)
def test_only_ascii_whitespace_and_ascii_case_are_normalised(given, normal):
    assert normalize_email(given) == normal
    assert normalize_email(given) == given.encode().strip().lower().decode()


@pytest.mark.parametrize("email", LOOKALIKES)
def test_addresses_that_could_pass_for_another_are_a_login_problem(email):
    assert login_problem(email) is not None


@pytest.mark.parametrize("email", [KEN, " Ken@Example.com ", "山田@例え.jp", "élise@example.fr"])
def test_ordinary_addresses_are_fine(email):
    assert login_problem(email) is None


# --- through the portal ---------------------------------------------------------------------


@pytest.mark.parametrize("email", LOOKALIKES)
def test_a_lookalike_address_is_refused_at_login_with_a_clear_page(
    client, auth, stripe_api, caplog, email
):
    caplog.set_level(logging.INFO, logger="portal.audit")
    stripe_api.add(checkout_session(KEN, reference="KENS-ORDER"))
    response = auth.login(email)
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "This email address cannot be used here" in page
    assert "could be mistaken for another" in page
    assert client.get("/orders").status_code == 302  # not logged in
    assert stripe_api.call_count == 0  # nobody's orders were asked for
    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == "portal.audit"]
    assert audit[-1]["event"] == "login_failed" and audit[-1]["reason"] == "email_unusable"


def test_ascii_case_and_spaces_still_find_the_customers_orders(client, auth, stripe_api):
    stripe_api.add(checkout_session(KEN, reference="KENS-ORDER"))
    assert auth.login(" Ken@Example.com ").status_code == 302
    assert "KENS-ORDER" in client.get("/orders").get_data(as_text=True)
    # Stripe's filter is exact: the ASCII spellings are asked for (as given, normal form,
    # first letter capitalised), and nothing else.
    emails = {
        c.request.params.get("customer_details[email]")
        for c in stripe_api.mock.calls
        if "/v1/checkout/sessions" in c.request.url
    }
    assert emails == {"Ken@Example.com", KEN, "Ken@example.com"}


def test_an_order_under_a_lookalike_checkout_email_is_not_the_customers(client, auth, stripe_api):
    theirs = checkout_session("\u212aen@example.com", reference="NOT-KENS")
    ours = checkout_session(" KEN@EXAMPLE.COM", reference="KENS")
    stripe_api.add(theirs, ours)
    auth.login(KEN)
    assert client.get(f"/orders/{theirs['id']}").status_code == 404
    assert client.get(f"/orders/{ours['id']}").status_code == 200
