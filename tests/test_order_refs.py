"""Signed order references: a Payment Link URL anyone can edit cannot claim another order."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from portal import create_app
from portal.order_refs import MAC_LENGTH, order_id_of, sign, verify
from portal.settings import Settings, SettingsError
from tests.conftest import AuthActions, with_settings
from tests.support.stripe_fixtures import checkout_session
from tests.test_settings import GOOD

KEY = b"order-id-key-that-is-long-enough-0123456789"
CHEAP, DEAR = "plink_cheap", "plink_dear"
ALICE = "alice@example.com"


def test_a_signed_reference_verifies_only_for_its_own_link():
    reference = sign("3f0c2a9e-1b2c-4d5e-8f90-123456789abc", CHEAP, KEY)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,200}", reference)
    assert verify(reference, CHEAP, KEY)
    assert not verify(reference, DEAR, KEY)
    assert not verify(reference, CHEAP, b"another-key-that-is-long-enough-000000000")


@pytest.mark.parametrize(
    "reference",
    [
        None,
        "",
        "ORDER-1",
        "ORDER-1_",
        "ORDER-1_" + "0" * MAC_LENGTH,
        "_" + "a" * MAC_LENGTH,
        "a_b_c",
        "ORDER-1_" + "g" * MAC_LENGTH,
        "ORDER-1_" + "0" * (MAC_LENGTH + 1),
    ],
)
def test_forged_or_malformed_references_do_not_verify(reference):
    assert not verify(reference, CHEAP, KEY)


def test_the_order_id_inside_a_signed_reference():
    reference = sign("ORDER-7", CHEAP, KEY)
    assert order_id_of(reference) == "ORDER-7"
    assert order_id_of("PLAIN_ID") == "PLAIN_ID"


@pytest.mark.parametrize("order_id", ["", "has_underscore", "x" * 171, "spaces are bad"])
def test_signing_refuses_order_ids_that_would_not_survive(order_id):
    with pytest.raises(ValueError):
        sign(order_id, CHEAP, KEY)


# --- settings -------------------------------------------------------------------------------


def test_payment_links_need_an_order_id_key():
    with pytest.raises(SettingsError, match="PORTAL_ORDER_ID_KEY"):
        Settings.from_env({**GOOD, "PORTAL_PAYMENT_LINKS": "photo=https://buy.stripe.com/test_1"})


def test_the_order_id_key_must_not_be_the_secret_key():
    with pytest.raises(SettingsError, match="must differ"):
        Settings.from_env({**GOOD, "PORTAL_ORDER_ID_KEY": GOOD["PORTAL_SECRET_KEY"]})


@pytest.mark.parametrize("value", ["photo", "Photo=https://x.test/a", "photo=buy.stripe.com/x"])
def test_malformed_payment_links_are_named(value):
    env = {**GOOD, "PORTAL_ORDER_ID_KEY": KEY.decode(), "PORTAL_PAYMENT_LINKS": value}
    with pytest.raises(SettingsError, match="PORTAL_PAYMENT_LINKS"):
        Settings.from_env(env)


# --- the portal -----------------------------------------------------------------------------


@pytest.fixture
def strict(settings, s3, stripe_api, idp_url):  # type: ignore[no-untyped-def]
    """A portal that shows files only for references it signed for the order's link."""
    app = create_app(
        with_settings(
            settings,
            order_id_key=KEY,
            require_signed_order_ids=True,
            payment_links=(("photo", "https://buy.stripe.com/test_photo"),),
        )
    )
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    return client


def _paid(stripe_api, s3, reference: str, link: str) -> dict:
    session = checkout_session(ALICE, reference=reference)
    session["payment_link"] = link
    stripe_api.add(session)
    s3.put_object(Bucket="portal-test-files", Key=f"{order_id_of(reference)}/result.zip", Body=b"x")
    return session


def test_a_reference_signed_for_the_orders_link_gives_its_files(strict, stripe_api, s3):
    session = _paid(stripe_api, s3, sign("ORDER-OK", CHEAP, KEY), CHEAP)
    html = strict.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Order ORDER-OK" in html and "result.zip" in html
    assert strict.get(f"/orders/{session['id']}/files/result.zip").status_code == 302


def test_a_reference_moved_to_a_dearer_link_gives_nothing(strict, stripe_api, s3, caplog):
    session = _paid(stripe_api, s3, sign("ORDER-MOVED", CHEAP, KEY), DEAR)
    assert "result.zip" not in strict.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert strict.get(f"/orders/{session['id']}/files/result.zip").status_code == 404
    assert any("not signed for its Payment Link" in r.getMessage() for r in caplog.records)


def test_someone_elses_plain_order_id_gives_nothing(strict, stripe_api, s3):
    session = _paid(stripe_api, s3, "VICTIMS-ORDER", CHEAP)
    assert strict.get(f"/orders/{session['id']}/files/result.zip").status_code == 404


def test_without_the_switch_plain_references_keep_working(client, logged_in, stripe_api, s3):
    session = _paid(stripe_api, s3, "PLAIN-1", CHEAP)
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302


def _links_page(stripe_api) -> None:
    stripe_api.mock.get(
        "https://api.stripe.com/v1/payment_links",
        json={
            "object": "list",
            "has_more": False,
            "url": "/v1/payment_links",
            "data": [
                {
                    "id": "plink_photo",
                    "object": "payment_link",
                    "url": "https://buy.stripe.com/test_photo",
                }
            ],
        },
    )


def test_buy_sends_the_buyer_to_the_link_with_a_signed_reference_and_locked_email(
    strict, stripe_api
):
    _links_page(stripe_api)
    response = strict.get("/buy/photo")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert (
        f"{location.scheme}://{location.netloc}{location.path}"
        == "https://buy.stripe.com/test_photo"
    )
    query = parse_qs(location.query)
    assert verify(query["client_reference_id"][0], "plink_photo", KEY)
    assert query["locked_prefilled_email"] == [ALICE]
    second = parse_qs(urlsplit(strict.get("/buy/photo").headers["Location"]).query)
    assert second["client_reference_id"] != query["client_reference_id"]  # a new OrderID each time
    link_lookups = [c for c in stripe_api.mock.calls if "/v1/payment_links" in c.request.url]
    assert len(link_lookups) == 1  # the link's id is remembered


def test_buy_without_login_sets_no_email(settings, s3, stripe_api):
    app = create_app(
        with_settings(
            settings,
            order_id_key=KEY,
            payment_links=(("photo", "https://buy.stripe.com/test_photo"),),
        )
    )
    _links_page(stripe_api)
    query = parse_qs(urlsplit(app.test_client().get("/buy/photo").headers["Location"]).query)
    assert "locked_prefilled_email" not in query


@pytest.mark.parametrize("name", ["unknown", "..%2F", "photo%00"])
def test_buy_with_an_unknown_link_name_is_404(strict, stripe_api, name):
    assert strict.get(f"/buy/{name}").status_code == 404


def test_sign_order_id_command_prints_a_reference_for_a_link():
    env = {**GOOD, "PORTAL_ORDER_ID_KEY": KEY.decode()}
    result = subprocess.run(
        [sys.executable, "-m", "portal.cli", "sign-order-id", "UPLOAD-42", "--link", CHEAP],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert verify(result.stdout.strip(), CHEAP, KEY)
    assert order_id_of(result.stdout.strip()) == "UPLOAD-42"
