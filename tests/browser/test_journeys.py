"""What a customer does, clicked through in real Chromium against `portal demo`."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from portal.devstack.demo import DemoStack
from tests.browser.conftest import log_in, stored_file

HANAKO = "hanako@example.jp"


def _order_link(page: Page, number: str) -> Locator:
    """The list's link to an order: named by its products, then its order number."""
    return page.get_by_role("link", name=re.compile(rf"(Order number|注文番号) {number}$"))


def _file_button(page: Page, name: str) -> Locator:
    return page.get_by_role("link", name=re.compile(rf"^{re.escape(name)} "))


def test_a_customer_logs_in_downloads_buys_switches_language_and_logs_out(
    page: Page, stack: DemoStack, csp_refusals: list[str]
):
    # Log in by the provider's form and land on the order list.
    log_in(page, stack, HANAKO)
    expect(page.get_by_role("heading", level=1)).to_have_text("Order history")
    # The shop says who it is: its logo and name in the header, its contact in the footer.
    expect(page.locator("header .brand")).to_have_text("Shizuku Photo Studio")
    expect(page.locator("header .brand img")).to_have_js_property("naturalWidth", 64)
    expect(page.get_by_role("contentinfo")).to_contain_text("support@shizuku.example.jp")
    expect(page.get_by_role("table")).to_contain_text("JP-1001")
    expect(page.get_by_role("row", name=re.compile("JP-1001"))).to_contain_text("¥5,000")

    # Order detail, then the file itself.
    _order_link(page, "JP-1001").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Order details")
    expect(page.locator("dl.facts")).to_contain_text("JP-1001")
    expect(page.get_by_role("link", name="Ask about this order")).to_have_attribute(
        "href", re.compile(r"^mailto:support@shizuku\.example\.jp\?subject=About%20order%20JP-1001")
    )
    expect(page.locator("dd.order-state")).to_have_text("Ready to download")
    expect(_file_button(page, "result.txt")).to_contain_text("TXT · 29 B")
    with page.expect_download() as download_info:
        _file_button(page, "result.txt").click()
    download = download_info.value
    # Saved under the order number: ten orders' result.txt never collide in Downloads.
    assert download.suggested_filename == "JP-1001_result.txt"
    assert download.failure() is None
    assert download.path().read_bytes() == stored_file(stack, "orders/JP-1001/result.txt")

    # Buy through the shop's Payment Link (via the portal, which signs the OrderID).
    page.goto(f"{stack.portal_url}/buy/restoration")
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(HANAKO)
    page.get_by_role("button", name=re.compile("^Pay")).click()
    page.wait_for_url(re.compile(re.escape(stack.portal_url) + r"/orders/cs_"))
    expect(page.get_by_role("status").first).to_contain_text("Thank you for your order.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Order details")
    number = page.locator("dl.facts dd").first.inner_text()
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}", number), number
    new_order_id = _order_id_of(stack, page.url.rsplit("/", 1)[1])

    # The shop's fulfilment writes the file a moment later: it appears on reload.
    for _ in range(40):
        if _file_button(page, "result.txt").count():
            break
        expect(page.get_by_text("Your files are being prepared")).to_be_visible()
        page.wait_for_timeout(250)
        page.reload()
    with page.expect_download() as download_info:
        _file_button(page, "result.txt").click()
    assert download_info.value.suggested_filename == f"{number}_result.txt"
    new_file = download_info.value.path().read_bytes()
    assert new_file == stored_file(stack, f"orders/{new_order_id}/result.txt")

    # Switch to Japanese: the same page, now in Japanese, and it stays so.
    page.get_by_role("link", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("ご注文詳細")
    expect(page.locator("header .brand")).to_have_text("フォトスタジオしずく")
    page.get_by_role("link", name="注文履歴に戻る").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("注文履歴")
    expect(page.get_by_role("row", name=re.compile("JP-1001"))).to_contain_text("￥5,000")

    # Log out, at the portal and then at the provider: the order list asks for a login again.
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url(f"{stack.oidc_url}/**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{stack.portal_url}/")
    expect(page.get_by_role("link", name="ログイン", exact=True)).to_be_visible()
    page.goto(f"{stack.portal_url}/orders")
    page.wait_for_url(f"{stack.oidc_url}/**")
    assert csp_refusals == []


def test_keyboard_only_from_login_to_download(
    page: Page, stack: DemoStack, csp_refusals: list[str]
):
    page.goto(stack.portal_url)
    # Skip link first, then the page's own controls; every stop shows where focus is.
    _tab_to(page, "Skip to content", limit=1)
    _tab_to(page, "Log in to see your orders")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.oidc_url}/**")
    # The provider's form focuses its field: type the email and submit with Enter.
    expect(page.locator("input[name=sub]")).to_be_focused()
    page.keyboard.type(HANAKO)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{stack.portal_url}/orders")
    _tab_to(page, "写真集 A4", contains=True)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/orders/cs_.*"))
    _tab_to(page, "result.txt", contains=True)
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    assert download_info.value.path().read_bytes() == stored_file(
        stack, "orders/JP-1001/result.txt"
    )
    assert csp_refusals == []


def _order_id_of(stack: DemoStack, session_id: str) -> str:
    """The OrderID inside the signed reference the emulator keeps for ``session_id``."""
    reference = stack.emulator.sessions[session_id]["client_reference_id"]
    return str(reference).rsplit("_", 1)[0]


def _tab_to(page: Page, text: str, limit: int = 60, *, contains: bool = False) -> None:
    """Press Tab until ``text`` (or, with ``contains``, an element whose text starts with
    it) has focus, checking that each stop's focus is visible."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = _focused(page)
        assert focused["visible"], f"no visible focus on {focused}"
        if focused["text"] == text or (contains and focused["text"].startswith(text)):
            return
    raise AssertionError(f"{text!r} not reached with Tab")


def _focused(page: Page) -> dict[str, Any]:
    return page.evaluate(
        """() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
        const shadow = style.boxShadow && style.boxShadow !== 'none';
        return {tag: el.tagName, text: (el.innerText || el.value || '').trim(),
                name: el.getAttribute('name') || '', visible: Boolean(outline || shadow),
                outline: style.outlineStyle + ' ' + style.outlineWidth};
    }"""
    )
