"""References nobody can claim: a Payment Link URL anyone can edit gets a stranger nothing."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from portal import create_app
from portal.order_refs import MAC_LENGTH, mac, mint_order_id, order_id_of, sign, verify
from portal.settings import Settings, SettingsError
from tests.conftest import AuthActions, with_settings
from tests.support.deliveries import BUCKET, ORDER_ID_KEY, fulfil, signed
from tests.support.stripe_fixtures import checkout_session
from tests.test_settings import GOOD

ROOT = Path(__file__).resolve().parents[1]
KEY = b"order-id-key-that-is-long-enough-0123456789"
CHEAP, DEAR = "plink_cheap", "plink_dear"
ALICE, BOB = "alice@example.com", "bob@example.com"


def test_a_signed_reference_verifies_only_for_its_own_link_and_email():
    reference = sign("3f0c2a9e-1b2c-4d5e-8f90-123456789abc", CHEAP, ALICE, KEY)
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,200}", reference)
    assert verify(reference, CHEAP, ALICE, KEY)
    assert not verify(reference, DEAR, ALICE, KEY)
    assert not verify(reference, CHEAP, BOB, KEY)
    assert not verify(reference, CHEAP, ALICE, b"another-key-that-is-long-enough-000000000")


def test_the_email_counts_trimmed_and_ascii_lower_cased_only():
    reference = sign("ORDER-1", CHEAP, "Ken@Example.com", KEY)
    assert verify(reference, CHEAP, " ken@example.COM\t", KEY)
    for lookalike in ("\u212aen@example.com", "ken@example.com\u3000", "ken@example.com\x85"):
        assert not verify(reference, CHEAP, lookalike, KEY)


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
        "ORDER-1_" + "é" * MAC_LENGTH,
        42,
    ],
)
def test_forged_or_malformed_references_do_not_verify(reference):
    assert not verify(reference, CHEAP, ALICE, KEY)


@pytest.mark.parametrize("email", [None, "", "   ", 7, "\ud800@example.com"])
def test_a_missing_or_strange_email_never_verifies(email):
    reference = sign("ORDER-1", CHEAP, ALICE, KEY)
    assert not verify(reference, CHEAP, email, KEY)


def test_the_order_id_inside_a_signed_reference():
    reference = sign("ORDER-7", CHEAP, ALICE, KEY)
    assert order_id_of(reference) == "ORDER-7"
    assert order_id_of("PLAIN_ID") == "PLAIN_ID"


@pytest.mark.parametrize("order_id", ["", "has_underscore", "x" * 168, "spaces are bad"])
def test_signing_refuses_order_ids_that_would_not_survive(order_id):
    with pytest.raises(ValueError):
        sign(order_id, CHEAP, ALICE, KEY)


def test_the_longest_signable_order_id_stays_within_what_stripe_keeps():
    assert len(sign("x" * 167, CHEAP, ALICE, KEY)) == 200


def _readme_check():  # type: ignore[no-untyped-def]
    """The five-line HMAC the README gives shops for their fulfilment, run as written."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?def order_id_from.*?)```", readme, re.S)
    assert block, "README lost its order_id_from snippet"
    namespace: dict = {}
    exec(block.group(1), namespace)  # noqa: S102 (our own README)
    return namespace["order_id_from"]


@pytest.mark.parametrize(
    "email", [ALICE, "  Alice@Example.COM\n", "山田@例え.jp", "ÉLISE@example.fr", "\u212aen@x.jp"]
)
def test_the_readmes_five_lines_agree_with_the_portal(email):
    order_id_from = _readme_check()
    order_id = mint_order_id()
    reference = sign(order_id, CHEAP, email, KEY)
    assert order_id_from(reference, CHEAP, email, KEY) == order_id
    assert reference.endswith(mac(order_id, CHEAP, email, KEY))
    assert order_id_from(reference, DEAR, email, KEY) is None
    assert order_id_from(reference, CHEAP, BOB, KEY) is None
    assert order_id_from(order_id, CHEAP, email, KEY) is None


# --- settings -------------------------------------------------------------------------------

KEYED = {**GOOD, "PORTAL_ORDER_ID_KEY": KEY.decode()}
UNKEYED = {k: v for k, v in GOOD.items() if k != "PORTAL_ORDER_ID_KEY"}


def test_the_order_id_key_is_required_by_default():
    with pytest.raises(SettingsError, match=r"^PORTAL_ORDER_ID_KEY: is required"):
        Settings.from_env(UNKEYED)


def test_a_shop_that_opted_in_to_unsigned_ids_may_do_without_the_key():
    env = {**UNKEYED, "PORTAL_UNSIGNED_ORDER_IDS": "KEN-[0-9]+"}
    assert Settings.from_env(env).order_id_key is None


def test_payment_links_need_an_order_id_key_even_with_unsigned_ids():
    env = {
        **UNKEYED,
        "PORTAL_UNSIGNED_ORDER_IDS": "KEN-[0-9]+",
        "PORTAL_PAYMENT_LINKS": "photo=https://buy.stripe.com/test_1",
    }
    with pytest.raises(SettingsError, match="PORTAL_ORDER_ID_KEY"):
        Settings.from_env(env)


def test_files_live_under_a_fixed_folder_by_default():
    assert Settings.from_env(KEYED).s3_prefix == "orders/{order_id}/"


def test_the_order_id_key_must_not_be_the_secret_key():
    with pytest.raises(SettingsError, match="must differ"):
        Settings.from_env({**GOOD, "PORTAL_ORDER_ID_KEY": GOOD["PORTAL_SECRET_KEY"]})


@pytest.mark.parametrize("value", ["photo", "Photo=https://x.test/a", "photo=buy.stripe.com/x"])
def test_malformed_payment_links_are_named(value):
    with pytest.raises(SettingsError, match="PORTAL_PAYMENT_LINKS"):
        Settings.from_env({**KEYED, "PORTAL_PAYMENT_LINKS": value})


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PORTAL_UNSIGNED_ORDER_IDS", "KEN-[0-9", "regular expression"),
        ("PORTAL_UNSIGNED_ORDER_IDS", "[A-Z]*", "no empty OrderID"),
        ("PORTAL_UNSIGNED_ORDER_IDS_UNTIL", "2026-12-01", "UTC offset"),
        ("PORTAL_UNSIGNED_ORDER_IDS_UNTIL", "next week", "ISO 8601"),
        ("PORTAL_S3_PREFIX", "{order_id}", "end with '/'"),
        ("PORTAL_S3_PREFIX", "orders/{order_id}", "end with '/'"),
    ],
)
def test_a_malformed_opt_in_is_named(name, value, problem):
    env = {**GOOD, "PORTAL_UNSIGNED_ORDER_IDS": "KEN-[0-9]+", name: value}
    with pytest.raises(SettingsError, match=f"^{name}: .*{re.escape(problem)}"):
        Settings.from_env(env)


def test_unsigned_ids_need_a_fixed_folder_in_the_prefix():
    env = {**GOOD, "PORTAL_UNSIGNED_ORDER_IDS": "KEN-[0-9]+", "PORTAL_S3_PREFIX": "{order_id}/"}
    with pytest.raises(SettingsError, match=r"^PORTAL_S3_PREFIX: must begin with a fixed folder"):
        Settings.from_env(env)


def test_a_date_limit_without_the_opt_in_is_named():
    env = {**KEYED, "PORTAL_UNSIGNED_ORDER_IDS_UNTIL": "2026-12-01T00:00+09:00"}
    with pytest.raises(SettingsError, match=r"^PORTAL_UNSIGNED_ORDER_IDS_UNTIL: needs"):
        Settings.from_env(env)


def test_the_old_switch_set_to_false_stops_start_up_with_the_way_forward():
    with pytest.raises(SettingsError, match="PORTAL_REQUIRE_SIGNED_ORDER_IDS: is gone"):
        Settings.from_env({**KEYED, "PORTAL_REQUIRE_SIGNED_ORDER_IDS": "false"})
    assert Settings.from_env({**KEYED, "PORTAL_REQUIRE_SIGNED_ORDER_IDS": "true"})


# --- the portal: who sees files -------------------------------------------------------------


def _paid(stripe_api, s3, email: str, reference: str, link: str, **changes) -> dict:  # type: ignore[no-untyped-def]
    session = checkout_session(email, reference=reference, **changes)
    session["payment_link"] = link
    stripe_api.add(session)
    s3.put_object(Bucket=BUCKET, Key=f"orders/{order_id_of(reference)}/result.zip", Body=b"x")
    return session


def _sees_files(client, session: dict) -> bool:  # type: ignore[no-untyped-def]
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    download = client.get(f"/orders/{session['id']}/files/result.zip")
    assert ("result.zip" in html) == (download.status_code == 302)
    return download.status_code == 302


def _login(app, idp_url: str, email: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    AuthActions(client, idp_url).login(email)
    return client


def test_a_reference_signed_for_the_orders_link_and_buyer_gives_its_files(
    client, logged_in, stripe_api, s3
):
    session = _paid(stripe_api, s3, ALICE, sign("ORDER-OK", CHEAP, ALICE, ORDER_ID_KEY), CHEAP)
    assert "Order ORDER-OK" in client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert _sees_files(client, session)


def test_a_reference_moved_to_a_dearer_link_gives_nothing(
    client, logged_in, stripe_api, s3, caplog
):
    session = _paid(stripe_api, s3, ALICE, sign("MOVED", CHEAP, ALICE, ORDER_ID_KEY), DEAR)
    assert not _sees_files(client, session)
    assert any("not signed for its Payment Link" in r.getMessage() for r in caplog.records)


def test_a_stranger_paying_with_a_bare_order_id_sees_nothing(client, logged_in, stripe_api, s3):
    victims = signed(checkout_session(BOB, reference="KEN-1"))
    fulfil(s3, victims, "result.zip")
    strangers = _paid(stripe_api, s3, ALICE, "KEN-1", CHEAP)
    assert not _sees_files(client, strangers)
    bare_uuid = _paid(stripe_api, s3, ALICE, mint_order_id(), CHEAP)
    assert not _sees_files(client, bare_uuid)


def test_a_stranger_replaying_a_signed_reference_sees_nothing(client, logged_in, stripe_api, s3):
    bobs_reference = sign("BOBS-ORDER", CHEAP, BOB, ORDER_ID_KEY)
    replayed = _paid(stripe_api, s3, ALICE, bobs_reference, CHEAP)
    assert not _sees_files(client, replayed)


def test_a_folder_name_as_reference_reaches_no_folder(client, logged_in, stripe_api, s3):
    s3.put_object(Bucket=BUCKET, Key="internal/2026-payroll.csv", Body=b"secret")
    session = checkout_session(ALICE, reference="internal")
    stripe_api.add(session)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "payroll" not in html and "no files to download" in html
    assert client.get(f"/orders/{session['id']}/files/2026-payroll.csv").status_code == 404


@pytest.fixture
def migrating(settings, s3, stripe_api, idp_url, caplog):  # type: ignore[no-untyped-def]
    """A shop that opted in to its old plain OrderIDs, for orders before 2026-01-01."""
    caplog.set_level(logging.WARNING, logger="portal")
    app = create_app(
        with_settings(
            settings,
            unsigned_order_ids="KEN-[0-9]{1,6}|[0-9a-f-]{36}",
            unsigned_order_ids_until=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    return _login(app, idp_url, ALICE)


def test_opting_in_to_unsigned_ids_warns_at_start_up(migrating, caplog):
    warnings = [r.getMessage() for r in caplog.get_records("setup") if r.levelname == "WARNING"]
    assert any("PORTAL_UNSIGNED_ORDER_IDS is set" in w for w in warnings)


def test_an_old_plain_order_id_matching_the_opt_in_keeps_its_files(migrating, stripe_api, s3):
    old = _paid(stripe_api, s3, ALICE, "KEN-1", CHEAP, created=1_760_000_000)  # Oct 2025
    assert _sees_files(migrating, old)


def test_a_plain_order_id_paid_after_the_switch_gives_nothing(migrating, stripe_api, s3):
    new = _paid(stripe_api, s3, ALICE, "KEN-2", CHEAP, created=1_770_000_000)  # Feb 2026
    assert not _sees_files(migrating, new)


@pytest.mark.parametrize("reference", ["internal", "KEN-1x", "ken-1"])
def test_a_plain_order_id_outside_the_pattern_gives_nothing(migrating, stripe_api, s3, reference):
    session = _paid(stripe_api, s3, ALICE, reference, CHEAP, created=1_760_000_000)
    assert not _sees_files(migrating, session)


def test_a_bare_minted_order_id_is_never_taken_unsigned(migrating, stripe_api, s3):
    # The shop's pattern would match a UUID; the half of a signed reference still gives nothing.
    session = _paid(stripe_api, s3, ALICE, mint_order_id(), CHEAP, created=1_760_000_000)
    assert not _sees_files(migrating, session)


# --- /buy/<name> ----------------------------------------------------------------------------


@pytest.fixture
def shop(settings, s3, stripe_api):  # type: ignore[no-untyped-def]
    """A portal with one Payment Link, ``photo``, that Stripe knows as ``plink_photo``."""
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
    return create_app(
        with_settings(settings, payment_links=(("photo", "https://buy.stripe.com/test_photo"),))
    )


def test_buy_asks_for_a_login_first(shop, stripe_api):
    response = shop.test_client().get("/buy/photo")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2Fbuy%2Fphoto"
    assert not [c for c in stripe_api.mock.calls if "/v1/payment_links" in c.request.url]


def test_buy_sends_the_buyer_on_with_a_reference_signed_for_them_and_their_email_locked(
    shop, stripe_api, idp_url
):
    client = _login(shop, idp_url, ALICE)
    response = client.get("/buy/photo")
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        "https://buy.stripe.com/test_photo"
    )
    query = parse_qs(location.query)
    assert verify(query["client_reference_id"][0], "plink_photo", ALICE, ORDER_ID_KEY)
    assert not verify(query["client_reference_id"][0], "plink_photo", BOB, ORDER_ID_KEY)
    assert query["locked_prefilled_email"] == [ALICE]
    second = parse_qs(urlsplit(client.get("/buy/photo").headers["Location"]).query)
    assert second["client_reference_id"] != query["client_reference_id"]  # a new OrderID each time
    link_lookups = [c for c in stripe_api.mock.calls if "/v1/payment_links" in c.request.url]
    assert len(link_lookups) == 1  # the link's id is remembered


@pytest.mark.parametrize("name", ["unknown", "..%2F", "photo%00"])
def test_buy_with_an_unknown_link_name_is_404(shop, stripe_api, idp_url, name):
    assert _login(shop, idp_url, ALICE).get(f"/buy/{name}").status_code == 404


# --- portal sign-order-id / verify-order-id -------------------------------------------------


def _portal(*args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    return subprocess.run(
        [sys.executable, "-m", "portal.cli", *args],
        env={**clean, **KEYED},
        cwd=ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sign_order_id_signs_for_a_link_and_a_buyer():
    result = _portal("sign-order-id", "UPLOAD-42", "--link", CHEAP, "--email", ALICE)
    assert result.returncode == 0, result.stderr
    reference = result.stdout.strip()
    assert verify(reference, CHEAP, ALICE, KEY) and order_id_of(reference) == "UPLOAD-42"


def test_verify_order_id_prints_the_order_id_of_a_genuine_reference():
    reference = sign("UPLOAD-43", CHEAP, ALICE, KEY)
    result = _portal("verify-order-id", reference, "--link", CHEAP, "--email", "Alice@Example.com")
    assert (result.returncode, result.stdout) == (0, "UPLOAD-43\n")


@pytest.mark.parametrize(
    ("reference", "link", "email"),
    [
        (sign("UPLOAD-44", CHEAP, ALICE, KEY), CHEAP, BOB),
        (sign("UPLOAD-44", CHEAP, ALICE, KEY), DEAR, ALICE),
        ("UPLOAD-44", CHEAP, ALICE),
        ("internal", CHEAP, ALICE),
    ],
)
def test_verify_order_id_refuses_anything_else_so_nothing_is_written(reference, link, email):
    result = _portal("verify-order-id", reference, "--link", link, "--email", email)
    assert result.returncode == 1 and result.stdout == ""
    assert "write no files" in result.stderr
