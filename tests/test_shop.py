"""The shop's identity on every page: name, logo, contact, legal pages; asking about an order."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from portal import create_app
from portal.shop import Shop
from tests.conftest import AuthActions, with_settings
from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"
LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>'
)


@pytest.fixture
def logo(tmp_path: Path) -> Path:
    path = tmp_path / "logo.svg"
    path.write_bytes(LOGO)
    return path


@pytest.fixture
def shop(logo: Path) -> Shop:
    return Shop(
        name_ja="フォトスタジオしずく",
        name_en="Shizuku Photo Studio",
        logo=logo,
        support_email="support@shizuku.example.jp",
        legal_notice_url="https://shizuku.example.jp/tokushoho",
        privacy_url="https://shizuku.example.jp/privacy",
    )


@pytest.fixture
def settings(settings, shop):  # type: ignore[no-untyped-def]
    return with_settings(settings, shop=shop)


def test_every_page_names_the_shop_in_the_pages_language(client):
    english = client.get("/").get_data(as_text=True)
    assert "<title>Welcome · Shizuku Photo Studio</title>" in english
    assert "<span>Shizuku Photo Studio</span>" in english
    japanese = client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "フォトスタジオしずく" in japanese and "Shizuku Photo Studio" not in japanese


def test_the_footer_links_contact_legal_notice_and_privacy_policy(client):
    html = client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    footer = html.split('<footer class="site-footer">', 1)[1]
    assert 'href="mailto:support@shizuku.example.jp"' in footer
    assert (
        '<a href="https://shizuku.example.jp/tokushoho" rel="noopener">特定商取引法に基づく表記</a>'
        in footer
    )
    assert "プライバシーポリシー" in footer


def test_error_pages_keep_the_shop_and_its_contact(client):
    html = client.get("/no/such/page").get_data(as_text=True)
    assert "Shizuku Photo Studio" in html
    assert "If this keeps happening, please contact us:" in html
    assert 'href="mailto:support@shizuku.example.jp"' in html


def test_the_logo_is_served_from_the_portals_own_origin_and_cannot_run_script(client):
    page = client.get("/").get_data(as_text=True)
    src = page.split('<img class="logo" src="', 1)[1].split('"', 1)[0]
    assert src.startswith("/shop/logo?v=")
    logo = client.get(src)
    assert logo.status_code == 200 and logo.data == LOGO
    assert logo.mimetype == "image/svg+xml"
    assert "sandbox" in logo.headers["Content-Security-Policy"]
    assert logo.headers["Cache-Control"] == "public, max-age=86400"
    again = client.get(src, headers={"If-None-Match": logo.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_the_logos_address_changes_when_the_file_does(settings, s3, stripe_api, logo):
    first = create_app(settings).test_client().get("/").get_data(as_text=True)
    logo.write_bytes(LOGO.replace(b"rect", b"circle"))
    second = create_app(settings).test_client().get("/").get_data(as_text=True)
    assert first.split("/shop/logo?v=")[1][:16] != second.split("/shop/logo?v=")[1][:16]


def test_an_order_offers_to_ask_the_shop_by_email_with_its_number(client, auth, stripe_api):
    auth.login(ALICE)
    session = checkout_session(ALICE, reference="JP-1001")
    stripe_api.add(session)
    html = client.get(f"/orders/{session['id']}", headers={"Accept-Language": "ja"})
    link = html.get_data(as_text=True).split('<p class="ask"><a href="', 1)[1].split('"', 1)[0]
    parts = urlsplit(link.replace("&amp;", "&"))
    assert parts.scheme == "mailto" and parts.path == "support@shizuku.example.jp"
    assert parse_qs(parts.query)["subject"] == ["注文番号 JP-1001 について"]
    assert "この注文について問い合わせる" in html.get_data(as_text=True)


def test_a_contact_page_gets_the_order_number_as_a_parameter(
    settings, shop, s3, stripe_api, idp_url
):
    contact = "https://shizuku.example.jp/contact?form=orders"
    app = create_app(with_settings(settings, shop=Shop(support_url=contact)))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    session = checkout_session(ALICE, reference="JP-1001")
    stripe_api.add(session)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert 'href="https://shizuku.example.jp/contact?form=orders&amp;order=JP-1001"' in html


def test_a_shop_without_identity_settings_shows_the_portals_name_and_no_contact(
    settings, s3, stripe_api
):
    client = create_app(with_settings(settings, shop=Shop())).test_client()
    html = client.get("/").get_data(as_text=True)
    assert "<span>Order Portal</span>" in html
    assert "mailto:" not in html and "shop-links" not in html
    assert client.get("/shop/logo").status_code == 404


def test_a_printed_page_keeps_the_shop_and_drops_the_controls():
    css = (Path(__file__).resolve().parents[1] / "static" / "portal.css").read_text()
    print_rules = css.split("@media print", 1)[1]
    assert ".languages" in print_rules and ".account" in print_rules
    assert ".site-footer" in print_rules
