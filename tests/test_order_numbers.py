"""The 注文番号 a buyer reads: short and stable for portal-minted ids, the shop's own otherwise."""

from __future__ import annotations

import re

from portal import create_app
from portal.order_numbers import OrderNumbers, compact, derived_number
from tests.conftest import AuthActions, with_settings
from tests.support.stripe_fixtures import checkout_session

MINTED = "216e5820-c1b7-4f0e-9a3e-5b1c2d3e4f50"


def test_a_portal_minted_order_id_reads_as_twelve_digits_in_groups_of_four():
    number = OrderNumbers().number(MINTED, "cs_test_1")
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}", number)


def test_the_same_order_id_always_gives_the_same_number():
    assert derived_number(MINTED) == derived_number(MINTED)
    assert OrderNumbers().number(MINTED, "cs_a") == OrderNumbers().number(MINTED, "cs_b")


def test_different_order_ids_give_different_numbers():
    numbers = {derived_number(f"{n:08x}-c1b7-4f0e-9a3e-5b1c2d3e4f50") for n in range(2000)}
    assert len(numbers) == 2000


def test_an_order_without_a_reference_is_numbered_from_its_session():
    assert OrderNumbers().number(None, "cs_test_abc") == derived_number("cs_test_abc")


def test_a_shops_own_order_id_is_shown_as_it_is():
    assert OrderNumbers().number("JP-1001", "cs_test_1") == "JP-1001"


def test_a_shops_pattern_picks_the_part_to_show():
    numbers = OrderNumbers(r"^SHOP-(?P<number>\d+)-[a-f0-9]+$")
    assert numbers.number("SHOP-000123-deadbeef", "cs_1") == "000123"
    # An id the pattern does not fit is shown whole rather than guessed at.
    assert numbers.number("OTHER-9", "cs_1") == "OTHER-9"


def test_a_pattern_without_groups_shows_what_it_matches():
    assert OrderNumbers(r"\d{4}$").number("ORDER-2026-0042", "cs_1") == "0042"


def test_numbers_compare_without_hyphens_spaces_or_case():
    assert compact("r2001") == compact("R-2001") == compact("R 2001") == compact("R－2001")
    assert compact("4821 0937 5512") == compact("4821-0937-5512")
    # A Japanese keyboard types the long-vowel mark for "-".
    assert compact("Rー2001") == "R2001"


def test_the_order_pages_show_the_number_the_shops_pattern_picks(settings, s3, stripe_api, idp_url):
    app = create_app(with_settings(settings, order_number_pattern=r"^SHOP-(?P<number>\d+)-"))
    client = app.test_client()
    AuthActions(client, idp_url).login("alice@example.com")
    session = checkout_session("alice@example.com", reference="SHOP-000123-deadbeef")
    stripe_api.add(session)
    assert ">000123<" in client.get("/orders").get_data(as_text=True)
    detail = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "<dd>000123</dd>" in detail and "deadbeef" not in detail
