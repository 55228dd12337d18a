"""Japanese and English pages: catalogs, language choice, money and times."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from flask import Flask

from portal import create_app, i18n
from portal.domain import Money
from tests.conftest import with_settings
from tests.support.stripe_fixtures import checkout_session

ROOT = Path(__file__).resolve().parents[1]
CATALOGS = ROOT / "portal" / "translations"
ALICE = "alice@example.com"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    """The shop's defaults: Japanese pages (other test modules read English)."""
    return with_settings(settings, default_locale="ja")


def _extracted() -> set[str]:
    """Every message the code and templates ask to translate, as ``make messages`` finds it."""
    method_map = [("portal/devstack/**", "ignore"), ("portal/**.py", "python")]
    method_map.append(("templates/**.html", "jinja2.ext:babel_extract"))
    options = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "lazy_gettext": None, "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT, method_map, options, keywords
    ):
        found.add(message)
    return found


def _catalog(locale: str):  # type: ignore[no-untyped-def]
    with (CATALOGS / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po)


def test_the_extractor_finds_the_pages_strings():
    # Guards the completeness test below against extracting nothing.
    found = _extracted()
    assert {"Order history", "Log out", "Paid", "Order placed", "Page not found"} <= found


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_every_string_is_translated_in_both_catalogs(locale):
    catalog = _catalog(locale)
    missing = sorted(
        msgid
        for msgid in _extracted()
        if msgid not in catalog or not catalog[msgid].string or catalog[msgid].fuzzy
    )
    assert missing == [], f"add to portal/translations/{locale} (make messages): {missing}"


@pytest.mark.parametrize("locale", ["ja", "en"])
def test_translations_keep_every_placeholder(locale):
    wrong = [
        message.id
        for message in _catalog(locale)
        if message.id
        and sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string))
    ]
    assert wrong == []


def test_pages_are_japanese_by_default(client):
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "ログインして注文を見る" in html
    assert "時刻は日本時間で表示しています。" in html


def test_the_default_language_is_a_setting(settings, s3, stripe_api):
    app = create_app(with_settings(settings, default_locale="ja"))
    html = app.test_client().get("/").get_data(as_text=True)
    assert '<html lang="ja">' in html


def test_the_browser_language_wins_over_the_default(client):
    html = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Log in to see your orders" in html


def test_a_browser_language_the_portal_lacks_falls_back_to_the_default(client):
    html = client.get("/", headers={"Accept-Language": "fr-FR,de;q=0.8"}).get_data(as_text=True)
    assert '<html lang="ja">' in html


def test_the_switcher_remembers_the_choice_over_the_browser_language(client):
    response = client.get("/language/en?next=/orders%3Fstatus%3Dpaid")
    assert response.status_code == 302
    assert response.headers["Location"] == "/orders?status=paid"
    cookie = response.headers["Set-Cookie"]
    assert "portal_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = client.get("/", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert '<html lang="en">' in html


def test_the_switcher_links_back_to_the_page_it_is_on(client):
    html = client.get("/?x=1").get_data(as_text=True)
    assert 'href="/language/en?next=/?x%3D1" lang="en" hreflang="en"' in html
    assert 'lang="ja" hreflang="ja"\n               aria-current="true">日本語' in html


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil", ""])
def test_the_switcher_never_sends_the_browser_off_site(client, target):
    response = client.get("/language/ja", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("code", ["fr", "JA", "ja-JP", "../en", "<script>"])
def test_an_unknown_language_is_a_404_and_sets_no_cookie(client, code):
    response = client.get(f"/language/{code}")
    assert response.status_code == 404
    assert "portal_lang" not in response.headers.get("Set-Cookie", "")


def test_a_forged_language_cookie_is_ignored(client):
    client.set_cookie("portal_lang", "xx<script>")
    html = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en">' in html


@pytest.mark.parametrize(
    ("locale", "amount", "shown"),
    [
        ("ja", Money(5000, "jpy"), "￥5,000"),
        ("en", Money(5000, "jpy"), "¥5,000"),
        ("en", Money(1999, "usd"), "$19.99"),
        ("ja", Money(1999, "usd"), "$19.99"),
        ("en", Money(-1999, "usd"), "-$19.99"),
        ("en", Money(1234, "kwd"), "KWD1.234"),
        ("ja", Money(1234, "kwd"), "KWD1.234"),
    ],
)
def test_money_is_written_by_babel_from_stripe_minor_units(app: Flask, locale, amount, shown):
    with app.test_request_context(headers={"Accept-Language": locale}):
        assert i18n.money(amount) == shown


def test_order_pages_show_money_and_times_the_japanese_way(client, auth, stripe_api):
    auth.login(ALICE)
    session = checkout_session(ALICE, reference="JA-1", amount=5000, created=1_767_225_600)
    stripe_api.add(session)
    listing = client.get("/orders").get_data(as_text=True)
    assert "￥5,000" in listing and "お支払い済み" in listing
    # 2026-01-01 00:00 UTC is 09:00 in Tokyo.
    assert '<time datetime="2026-01-01T00:00:00+00:00">2026/01/01 9:00</time>' in listing
    detail = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "<h1>ご注文詳細</h1>" in detail and "<dd>JA-1</dd>" in detail


def test_times_follow_the_configured_zone(settings, s3, stripe_api, idp_url):
    from tests.conftest import AuthActions

    app = create_app(with_settings(settings, timezone="UTC"))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    stripe_api.add(checkout_session(ALICE, reference="UTC-1", created=1_767_225_600))
    html = client.get("/orders", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Jan 1, 2026, 12:00\u202fAM" in html
    assert "Times are in UTC." in html


def test_date_filters_mean_the_shops_days(client, auth, stripe_api):
    auth.login(ALICE)
    # 2026-01-01 16:00 UTC is already 2 January in Tokyo.
    stripe_api.add(checkout_session(ALICE, reference="LATE-NIGHT", created=1_767_283_200))
    html = client.get("/orders?from=2026-01-02&to=2026-01-02").get_data(as_text=True)
    assert "LATE-NIGHT" in html
    html = client.get("/orders?to=2026-01-01").get_data(as_text=True)
    assert "LATE-NIGHT" not in html


def test_error_pages_and_json_errors_speak_the_pages_language(client):
    page = client.get("/nowhere")
    assert page.status_code == 404
    assert "ページが見つかりません" in page.get_data(as_text=True)
    api = client.get("/nowhere", headers={"Accept": "application/json", "Accept-Language": "en"})
    assert api.get_json() == {
        "error": {
            "status": 404,
            "message": "We could not find this page. Please check the address.",
        }
    }


def test_filter_notices_are_translated(client, auth, stripe_api):
    auth.login(ALICE)
    html = client.get("/orders?from=yesterday").get_data(as_text=True)
    assert "「開始日」の日付を認識できなかったため" in html


def test_a_catalog_edited_after_install_is_compiled_at_start(tmp_path):
    folder = tmp_path / "ja" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    source = folder / "messages.po"
    source.write_text('msgid ""\nmsgstr ""\n\nmsgid "Paid"\nmsgstr "支払済"\n', encoding="utf-8")
    assert i18n.ensure_compiled(tmp_path) == [folder / "messages.mo"]
    assert i18n.ensure_compiled(tmp_path) == []
    later = time.time() + 10
    os.utime(source, (later, later))
    assert i18n.ensure_compiled(tmp_path) == [folder / "messages.mo"]


@pytest.mark.parametrize(
    ("deadline", "shown"),
    [
        # 2026-12-05 14:59 UTC is 23:59 in Tokyo on the 5th; "today" is the 3rd there.
        ("2026-12-05T14:59:00+00:00", "あと2日"),
        ("2026-12-04T00:00:00+00:00", "あと1日"),
        ("2026-12-03T14:59:00+00:00", "本日まで"),
        ("2026-12-02T00:00:00+00:00", "期限切れ"),
    ],
)
def test_days_left_counts_the_shops_days(app: Flask, deadline, shown):
    from datetime import date, datetime

    with app.test_request_context(headers={"Accept-Language": "ja"}):
        moment = datetime.fromisoformat(deadline)
        assert i18n.days_left(moment, today=date(2026, 12, 3)) == shown


def test_a_deadline_is_short_with_its_weekday(app: Flask):
    from datetime import datetime

    moment = datetime.fromisoformat("2026-12-05T14:59:00+00:00")
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert ">12/05(土) 23:59</time>" in i18n.deadline(moment)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert ">Sat, Dec 5, 11:59\u202fPM</time>" in i18n.deadline(moment)
