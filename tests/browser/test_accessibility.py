"""axe-core on every kind of page, in both languages, and no sideways scrolling on a phone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from portal.devstack.demo import DemoStack
from tests.browser.conftest import (
    DESKTOP,
    OUTPUT,
    PHONE,
    axe_summary,
    axe_violations,
    record,
    sideways_overflow,
)

_LOGIN: list[Any] = []


@pytest.fixture(autouse=True)
def _login_cookies(hanako_cookies: list[Any]) -> None:
    _LOGIN[:] = hanako_cookies


def log_in(page: Page, stack: DemoStack) -> None:
    """Hanako's session (logged in once per run), then her order list."""
    page.context.add_cookies(_LOGIN)
    page.goto(f"{stack.portal_url}/orders")
    expect(page.locator("table.orders")).to_be_visible()


def _start(page: Page, stack: DemoStack) -> None:
    page.goto(stack.portal_url)


def _orders(page: Page, stack: DemoStack) -> None:
    log_in(page, stack)


def _paid_order(page: Page, stack: DemoStack) -> None:
    log_in(page, stack)
    page.get_by_role("link", name="JP-1001", exact=True).click()
    expect(page.locator("ul.files a").first).to_be_visible()


def _awaiting_order(page: Page, stack: DemoStack) -> None:
    log_in(page, stack)
    page.get_by_role("link", name="JP-1003", exact=True).click()
    expect(page.locator("main h1")).to_contain_text("JP-1003")


def _filtered_with_notice(page: Page, stack: DemoStack) -> None:
    log_in(page, stack)
    page.goto(f"{stack.portal_url}/orders?status=nope&from=2026-13-40&q=none-such")


def _not_found(page: Page, stack: DemoStack) -> None:
    page.goto(f"{stack.portal_url}/no/such/page")


def _login_refused(page: Page, stack: DemoStack) -> None:
    page.goto(f"{stack.portal_url}/auth/callback?code=forged&state=forged")


def _unknown_return(page: Page, stack: DemoStack) -> None:
    log_in(page, stack)
    page.goto(f"{stack.portal_url}/orders/return?session_id=cs_test_unknown")


PAGES: dict[str, Callable[[Page, DemoStack], None]] = {
    "start": _start,
    "order-list": _orders,
    "order-detail-paid": _paid_order,
    "order-detail-awaiting": _awaiting_order,
    "order-list-filtered": _filtered_with_notice,
    "error-404": _not_found,
    "login-refused": _login_refused,
    "order-not-found": _unknown_return,
}


@pytest.fixture(params=["en", "ja"])
def language(request: pytest.FixtureRequest, context: BrowserContext, stack: DemoStack) -> str:
    """Each page in both languages, chosen the way a customer does (the switcher's cookie)."""
    cookie = {"name": "portal_lang", "value": request.param, "url": stack.portal_url}
    context.add_cookies([cookie])  # type: ignore[list-item]
    return str(request.param)


@pytest.mark.parametrize("name", list(PAGES))
def test_no_serious_or_critical_axe_violations(page: Page, stack: DemoStack, language, name):
    PAGES[name](page, stack)
    expect(page.locator("html")).to_have_attribute("lang", language)
    record(f"axe-{name}-{language}", axe_summary(page))
    page.screenshot(path=str(OUTPUT / "pages" / f"{name}-{language}-1280.png"), full_page=True)
    assert axe_violations(page) == []


@pytest.mark.parametrize("name", list(PAGES))
def test_a_phone_never_scrolls_sideways(page: Page, stack: DemoStack, language, name):
    page.set_viewport_size(PHONE)
    PAGES[name](page, stack)
    page.screenshot(path=str(OUTPUT / "pages" / f"{name}-{language}-375.png"), full_page=True)
    assert sideways_overflow(page) == 0
    assert axe_violations(page) == []


def test_every_page_has_one_h1_and_its_landmarks(page: Page, stack: DemoStack):
    for name, open_page in PAGES.items():
        # Each page from a clean slate, as in its own test: a refused login ends the session.
        page.context.clear_cookies()
        page.set_viewport_size(DESKTOP)
        open_page(page, stack)
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
    rules = {violation["rule"] for violation in axe_violations(page)}
    assert {"image-alt", "color-contrast", "html-has-lang"} <= rules
