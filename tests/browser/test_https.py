"""Real Chromium through the TLS proxy (config/nginx/order-portal.conf), as deployed:
the forms that failed over https — Log out and Manage billing — work there."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from portal.devstack.demo import DemoStack, demo_stack
from portal.devstack.serving import free_port
from tests.browser.conftest import english_context, log_in
from tests.support.tls_proxy import tls_proxy


@pytest.fixture(scope="module")
def https_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    """The demo stack whose portal a browser reaches at https://127.0.0.1:<port>."""
    https_port = free_port()
    with demo_stack(0, fulfilment_delay=0.5, public_url=f"https://127.0.0.1:{https_port}") as stack:
        folder = tmp_path_factory.mktemp("nginx")
        with tls_proxy(stack.portal_address, folder, https_port=https_port):
            yield stack


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = english_context(browser, test_certificate=True)
    yield ctx
    ctx.close()


def test_manage_billing_then_log_out_over_https(page: Page, https_stack: DemoStack):
    log_in(page, https_stack)
    assert page.url.startswith("https://")
    cookie = next(c for c in page.context.cookies() if c["name"] == "__Host-portal")
    assert cookie["secure"]

    page.get_by_role("button", name="Manage billing and invoices").click()
    page.wait_for_url(f"{https_stack.stripe_url}/billing/**")
    page.get_by_role("link", name=re.compile("Return")).click()
    page.wait_for_url(f"{https_stack.portal_url}/orders")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{https_stack.oidc_url}/**")
    page.get_by_role("button", name="End session").click()
    page.wait_for_url(f"{https_stack.portal_url}/")
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    page.goto(f"{https_stack.portal_url}/orders")
    page.wait_for_url(f"{https_stack.oidc_url}/**")
