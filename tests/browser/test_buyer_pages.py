"""The pages a Japanese buyer trusts (issue 17), clicked through in Chromium on the demo.

Each journey keeps its screenshots under test-output/browser/buyer/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from portal.devstack.demo import DemoStack
from tests.browser.conftest import (
    OUTPUT,
    PHONE,
    english_context,
    log_in,
    sideways_overflow,
    stored_file,
)

SHOTS = OUTPUT / "buyer"
JOHN = "john@example.com"
HANAKO = "hanako@example.jp"


@pytest.fixture
def context(browser: Browser, stack: DemoStack) -> Iterator[BrowserContext]:
    """A Japanese buyer's browser (the switcher's cookie), allowed to use the clipboard."""
    ctx = english_context(browser)
    ctx.add_cookies([{"name": "portal_lang", "value": "ja", "url": stack.portal_url}])
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.portal_url)
    yield ctx
    ctx.close()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _open(page: Page, number: str) -> None:
    page.get_by_role("link", name=re.compile(rf"注文番号 {number}$")).click()
    expect(page.locator("dl.facts")).to_contain_text(number)


def _session_id(stack: DemoStack, order_id: str) -> str:
    return next(
        session_id
        for session_id, session in stack.emulator.sessions.items()
        if str(session.get("client_reference_id") or "").split("_")[0] == order_id
    )


def test_konbini_in_full_on_a_phone_with_copy_buttons(
    page: Page, stack: DemoStack, csp_refusals: list[str]
):
    page.set_viewport_size(PHONE)
    log_in(page, stack, HANAKO)
    # The list already says what to do and by when, with the weekday and the days left.
    row = page.get_by_role("row", name=re.compile("JP-1003"))
    expect(row).to_contain_text("お支払い待ち")
    expect(row.locator(".deadline")).to_have_text(
        re.compile(r"^期限 \d\d/\d\d\([月火水木金土日]\) \(あと\d日\)$")
    )
    _shot(page, "konbini-list-375")
    # On a phone the whole card is the link: a tap anywhere on it opens the order.
    row.scroll_into_view_if_needed()
    box = row.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] - 10, box["y"] + box["height"] - 10)
    expect(page.get_by_role("heading", name="コンビニでのお支払い")).to_be_visible()
    for chain in ("ファミリーマート", "ローソン", "ミニストップ", "セイコーマート"):
        expect(page.get_by_role("heading", name=chain, level=3)).to_be_visible()
    lawson = page.locator("section.store", has=page.get_by_role("heading", name="ローソン"))
    expect(lawson).to_contain_text("確認番号")
    expect(lawson).to_contain_text("Loppi")
    code = lawson.locator(".code").first.inner_text()
    assert re.fullmatch(r"\d{12}", code), code
    expect(page.locator(".pay-deadline")).to_contain_text("までにお支払いください")
    # The copy button comes from a same-origin script and puts the number on the clipboard.
    copy = lawson.get_by_role("button", name="ローソンのお支払い番号をコピー")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.locator(".copy-status")).to_have_text("コピーしました。")
    assert page.evaluate("navigator.clipboard.readText()") == code
    # Stripe's own voucher is a second way, not the only one; no files are promised yet.
    expect(page.get_by_role("link", name=re.compile("Stripeのお支払いページ"))).to_be_visible()
    expect(page.get_by_role("heading", name="ダウンロード")).to_have_count(0)
    assert sideways_overflow(page) == 0
    _shot(page, "konbini-detail-375")
    assert csp_refusals == []


def test_a_bank_transfer_shows_the_account_to_pay(page: Page, stack: DemoStack):
    log_in(page, stack, HANAKO)
    expect(page.get_by_role("row", name=re.compile("JP-1006"))).to_contain_text("お振込み待ち")
    _open(page, "JP-1006")
    transfer = page.locator("section.pay")
    expect(transfer.get_by_role("heading", name="銀行振込でのお支払い")).to_be_visible()
    for shown in ("Emulator Bank (0001)", "Main (001)", "普通", "1234567", "STRIPE EMULATOR"):
        expect(transfer).to_contain_text(shown)
    expect(transfer).to_contain_text("￥5,400")
    _shot(page, "bank-transfer-1280")


def test_a_lapsed_konbini_order_reads_lapsed_everywhere_and_can_be_bought_again(
    page: Page, stack: DemoStack
):
    stack.emulator.fail_payment(_session_id(stack, "US-2004"))
    log_in(page, stack, JOHN)
    row = page.get_by_role("row", name=re.compile("US-2004"))
    expect(row).to_contain_text("お支払い期限切れ")
    _open(page, "US-2004")
    expect(page.get_by_role("heading", name="お支払い期限を過ぎました")).to_be_visible()
    expect(page.get_by_text("ファイルをダウンロードできます")).to_have_count(0)
    _shot(page, "konbini-lapsed-1280")
    page.get_by_role("link", name="もう一度購入する").click()
    # A fresh purchase through the shop's link: the checkout, with the buyer's email locked.
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(JOHN)


def test_search_understands_japanese_input_and_periods(page: Page, stack: DemoStack):
    log_in(page, stack, HANAKO)
    search = page.get_by_label("商品名・注文番号")
    for typed, found in [
        ("ＰＯＳＴＥＲ", "JP-1004"),
        ("jp1003", "JP-1003"),
        ("ｃａｌｅｎｄａｒ 2027", "JP-1006"),
    ]:
        search.fill(typed)
        page.get_by_role("button", name="検索").click()
        numbers = page.locator("td.order-number").all_inner_texts()
        assert numbers == [found], (typed, numbers)
        expect(page.locator(".count")).to_have_text("1件中 1–1件")
    _shot(page, "search-fullwidth-1280")
    page.get_by_role("link", name="絞り込みを解除").click()
    page.get_by_role("link", name="今年").click()
    expect(page.get_by_role("link", name="今年")).to_have_attribute("aria-current", "true")
    expect(page.locator(".count")).to_have_text(re.compile(r"^\d+件中 1–\d+件$"))


def test_a_long_history_says_how_many_orders_there_are(page: Page, stack: DemoStack):
    log_in(page, stack, "many@example.jp")
    # One Stripe call reads 100 orders: the count says "more than 100" rather than guess.
    expect(page.locator(".count")).to_have_text("100件を超えるご注文のうち 1–50件")
    page.get_by_role("link", name="今年").click()
    expect(page.locator(".count")).to_have_text("120件中 1–50件")
    _shot(page, "count-120-1280")


def test_a_refund_is_said_plainly_and_an_old_file_link_says_why_it_is_closed(
    page: Page, stack: DemoStack
):
    session_id = _session_id(stack, "US-2001")
    log_in(page, stack, JOHN)
    _open(page, "US-2001")
    old_link = page.get_by_role("link", name=re.compile(r"^result\.txt ")).get_attribute("href")
    stack.emulator.refund(session_id, 1000)
    page.reload()
    expect(page.get_by_role("heading", name="一部返金")).to_be_visible()
    expect(page.locator("section.refund")).to_contain_text("カード会社により通常5〜10日")
    expect(page.locator("ol.timeline")).to_contain_text("一部返金")
    _shot(page, "refund-partial-1280")
    stack.emulator.refund(session_id)
    page.goto(stack.portal_url + str(old_link))
    expect(page.get_by_role("heading", level=1)).to_have_text("このご注文は返金済みです")
    page.get_by_role("link", name="ご注文詳細を見る").click()
    expect(page.locator("dd.order-state")).to_contain_text("返金済み")
    _shot(page, "refund-full-1280")


def test_downloads_are_buttons_named_for_the_order_with_the_check_value_folded_away(
    page: Page, stack: DemoStack
):
    log_in(page, stack, HANAKO)
    _open(page, "JP-1002")
    button = page.get_by_role("link", name=re.compile(r"^result\.txt "))
    expect(button).to_contain_text("TXT · 29 B")
    expect(page.locator("details.checksum p").first).not_to_be_visible()
    page.locator("details.checksum summary").first.click()
    expect(page.locator("details.checksum p").first).to_be_visible()
    expect(page.get_by_text("ボタンを押すたびに、5分間有効なダウンロード用リンク")).to_be_visible()
    with page.expect_download() as download_info:
        button.click()
    assert download_info.value.suggested_filename == "JP-1002_result.txt"
    assert download_info.value.path().read_bytes() == stored_file(
        stack, "orders/JP-1002/result.txt"
    )
    _shot(page, "downloads-1280")


def test_asking_about_an_order_and_the_shop_on_an_error_page(page: Page, stack: DemoStack):
    log_in(page, stack, HANAKO)
    _open(page, "JP-1001")
    ask = page.get_by_role("link", name="この注文について問い合わせる")
    expect(ask).to_have_attribute("href", re.compile(r"^mailto:support@shizuku\.example\.jp\?"))
    assert "JP-1001" in str(ask.get_attribute("href"))
    page.goto(f"{stack.portal_url}/no/such/page")
    expect(page.get_by_role("heading", level=1)).to_have_text("ページが見つかりません")
    expect(page.locator("header .brand")).to_have_text("フォトスタジオしずく")
    expect(page.get_by_role("link", name="特定商取引法に基づく表記")).to_be_visible()
    _shot(page, "error-404-ja-1280")


def test_a_checkout_email_a_phone_capitalised_is_still_in_the_list_search_and_export(
    page: Page, stack: DemoStack
):
    """The buyer logs in as hanako@…, pays by the shop's link with the email their phone
    typed as Hanako@… (Stripe keeps it so); the order is theirs everywhere."""
    log_in(page, stack, HANAKO)
    page.goto(f"{stack.payment_link_url}?client_reference_id=BR-CAPITAL")
    page.get_by_label("Email").fill("Hanako@example.jp")
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.wait_for_url(re.compile(re.escape(stack.portal_url) + r"/orders/cs_"))
    expect(page.get_by_role("status").first).to_contain_text("ご注文ありがとうございます")
    page.goto(f"{stack.portal_url}/orders")
    expect(page.get_by_role("table")).to_contain_text("BR-CAPITAL")
    page.get_by_label("商品名・注文番号").fill("BR-CAPITAL")
    page.get_by_role("button", name="検索").click()
    assert page.locator("td.order-number").all_inner_texts() == ["BR-CAPITAL"]
    _shot(page, "capitalised-checkout-email-search")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("CSV")).click()
    assert "BR-CAPITAL" in download_info.value.path().read_text(encoding="utf-8-sig")
