"""axe-core on every kind of page, in both languages, and no sideways scrolling on a phone.

Each test also saves the page it checked under test-output/browser/pages/ (1280 and 375 px
wide, both languages), so anyone can look at every page after a run.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from portal.devstack.demo import DemoStack
from tests.browser.conftest import (
    DESKTOP,
    NARROW,
    OUTPUT,
    PHONE,
    axe_violations,
    english_context,
    record,
    serious,
    sideways_overflow,
)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """As in conftest, but axe-core may be injected past the portal's script-src 'self'."""
    ctx = english_context(browser, bypass_csp=True)
    yield ctx
    ctx.close()


@dataclass(frozen=True)
class Visitor:
    """Opens portal pages in ``page``, as a stranger or as Hanako (one login per run)."""

    page: Page
    stack: DemoStack
    hanako_cookies: list[Any]

    def open(self, path: str) -> None:
        self.page.goto(self.stack.portal_url + path)

    def open_logged_in(self, path: str = "/orders") -> None:
        self.page.context.add_cookies(self.hanako_cookies)
        self.open(path)

    def open_order(self, order_id: str) -> None:
        self.open_logged_in()
        number = re.compile(rf"(Order number|注文番号) {order_id}$")
        self.page.get_by_role("link", name=number).click()
        expect(self.page.locator("dl.facts")).to_contain_text(order_id)


@pytest.fixture
def visitor(page: Page, stack: DemoStack, hanako_cookies: list[Any]) -> Visitor:
    return Visitor(page, stack, hanako_cookies)


def _order_list(visitor: Visitor) -> None:
    visitor.open_logged_in()
    expect(visitor.page.locator("table.orders")).to_be_visible()


def _paid_order(visitor: Visitor) -> None:
    visitor.open_order("JP-1001")
    expect(visitor.page.locator("ul.files a.download").first).to_be_visible()


#: Every kind of page the portal shows, opened the way a customer reaches it.
PAGES: dict[str, Callable[[Visitor], None]] = {
    "start": lambda visitor: visitor.open("/"),
    "order-list": _order_list,
    "order-list-filtered": lambda visitor: visitor.open_logged_in(
        "/orders?status=nope&from=2026-13-40&q=none-such"
    ),
    "order-detail-paid": _paid_order,
    "order-detail-awaiting": lambda visitor: visitor.open_order("JP-1003"),
    "order-detail-bank-transfer": lambda visitor: visitor.open_order("JP-1006"),
    "order-list-search": lambda visitor: visitor.open_logged_in(
        "/orders?q=%EF%BC%B0%EF%BC%AF%EF%BC%B3%EF%BC%B4%EF%BC%A5%EF%BC%B2"
    ),
    "order-detail-being-prepared": lambda visitor: visitor.open_order("JP-1004"),
    "order-not-found": lambda visitor: visitor.open_logged_in(
        "/orders/return?session_id=cs_test_unknown"
    ),
    "error-404": lambda visitor: visitor.open("/no/such/page"),
    "login-refused": lambda visitor: visitor.open("/auth/callback?code=forged&state=forged"),
}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest, context: BrowserContext, stack: DemoStack) -> str:
    """Each page in both languages, chosen the way a customer does (the switcher's cookie)."""
    cookie = {"name": "portal_lang", "value": request.param, "url": stack.portal_url}
    context.add_cookies([cookie])  # type: ignore[list-item]
    return str(request.param)


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_or_critical_axe_violations(visitor: Visitor, language: str, name: str):
    PAGES[name](visitor)
    expect(visitor.page.locator("html")).to_have_attribute("lang", language)
    visitor.page.screenshot(path=OUTPUT / "pages" / f"{name}-{language}-1280.png", full_page=True)
    violations = axe_violations(visitor.page)
    record(f"axe-{name}-{language}", violations)
    assert serious(violations) == []


@pytest.mark.parametrize("name", list(PAGES))
def test_a_phone_never_scrolls_sideways(visitor: Visitor, language: str, name: str):
    visitor.page.set_viewport_size(PHONE)
    PAGES[name](visitor)
    visitor.page.screenshot(path=OUTPUT / "pages" / f"{name}-{language}-375.png", full_page=True)
    assert sideways_overflow(visitor.page) == 0
    assert serious(axe_violations(visitor.page)) == []


@pytest.mark.parametrize("name", list(PAGES))
def test_320px_at_200_percent_text_never_scrolls_sideways(
    visitor: Visitor, language: str, name: str
):
    # The browser's text size setting scales the root font; every size in the CSS is in rem.
    visitor.page.set_viewport_size(NARROW)
    PAGES[name](visitor)
    visitor.page.add_style_tag(content="html { font-size: 200% !important; }")
    visitor.page.screenshot(
        path=OUTPUT / "pages" / f"{name}-{language}-320-200pct.png", full_page=True
    )
    assert sideways_overflow(visitor.page) == 0


def test_the_phone_header_is_one_row(visitor: Visitor):
    visitor.page.set_viewport_size(PHONE)
    for language in ("ja", "en"):
        visitor.page.context.add_cookies(
            [{"name": "portal_lang", "value": language, "url": visitor.stack.portal_url}]
        )
        visitor.open_logged_in()
        # Brand, the other language and the logout button side by side, centred on one line.
        parts = ["header .brand", "header .languages li:not(.current) a", "header button"]
        boxes = [visitor.page.locator(part).bounding_box() for part in parts]
        middles = [box["y"] + box["height"] / 2 for box in boxes if box]
        assert len(middles) == 3 and max(middles) - min(middles) < 8, (language, boxes)
        assert boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"] < boxes[2]["x"]  # type: ignore[index]


def test_every_page_has_one_h1_and_its_landmarks(visitor: Visitor):
    page = visitor.page
    for name, open_page in PAGES.items():
        # Each page from a clean slate, as in its own test: a refused login ends the session.
        page.context.clear_cookies()
        page.set_viewport_size(DESKTOP)
        open_page(visitor)
        assert page.locator("h1").count() == 1, name
        assert page.locator("main").count() == 1, name
        assert page.locator("header").count() >= 1, name
        assert page.get_by_role("navigation").count() >= 1, name


def test_the_axe_check_reports_what_it_should(page: Page):
    # Guards the checks above against passing because axe never ran.
    page.set_content(
        '<html><body><main><img src="x.png"><p style="color:#bbb;background:#fff">low</p>'
        "</main></body></html>"
    )
    rules = {violation["rule"] for violation in serious(axe_violations(page))}
    assert {"image-alt", "color-contrast", "html-has-lang"} <= rules
