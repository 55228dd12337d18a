"""Logging in and out in real Chromium through panva's oidc-provider, shaped like Auth0,
and what a customer meets when their login ends for lack of activity.

The portal here is a second one beside the demo's, on the demo's Stripe emulator and S3,
with panva's provider (issuer ending in ``/``) instead of the demo's; the test can reach
its session store to age a login instead of waiting half an hour.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from portal import create_app
from portal.devstack.demo import API_KEY, BUCKET, DemoStack
from portal.devstack.serving import free_port, run_in_thread
from portal.settings import Settings
from tests.browser.conftest import OUTPUT
from tests.support.panva import CLIENT_ID, CLIENT_SECRET, PROFILES, PanvaProvider, run_provider

HANAKO = "hanako@example.jp"


@dataclass(frozen=True)
class PanvaPortal:
    url: str
    provider: PanvaProvider
    app: Flask

    @property
    def provider_base(self) -> str:
        return self.provider.issuer.rstrip("/")


@pytest.fixture(scope="module")
def auth0_portal(stack: DemoStack) -> Iterator[PanvaPortal]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_provider(PROFILES["auth0-issuer-with-slash"], url) as provider:
        provider.set_user("hanako", {"both": {"email": HANAKO, "email_verified": True}})
        settings = Settings.from_env(
            {
                "PORTAL_SECRET_KEY": secrets.token_urlsafe(48),
                "PORTAL_PUBLIC_URL": url,
                "PORTAL_STRIPE_SECRET_KEY": API_KEY,
                "PORTAL_STRIPE_API_BASE": stack.stripe_url,
                "PORTAL_STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
                "PORTAL_OIDC_ISSUER": provider.issuer,
                "PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
                "PORTAL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
                "PORTAL_S3_BUCKET": BUCKET,
                "PORTAL_S3_ENDPOINT_URL": stack.s3_url,
                "PORTAL_ORDER_ID_KEY": secrets.token_urlsafe(48),
            }
        )
        app = create_app(settings)
        with run_in_thread(app, port=port):
            yield PanvaPortal(url, provider, app)


def test_a_customer_logs_in_and_out_through_an_auth0_style_provider(
    page: Page, auth0_portal: PanvaPortal
):
    portal = auth0_portal
    page.goto(f"{portal.url}/orders")
    page.wait_for_url(re.compile(re.escape(portal.provider_base) + r"/interaction/"))
    page.get_by_label("Login").fill("hanako")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{portal.url}/orders")
    expect(page.get_by_role("table")).to_contain_text("¥")
    expect(page.get_by_text(f"Logged in as {HANAKO}")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(re.escape(portal.provider_base) + r"/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{portal.url}/")
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()

    # Signed out at the provider too: the next login asks who is there.
    page.goto(f"{portal.url}/orders")
    page.wait_for_url(re.compile(re.escape(portal.provider_base) + r"/interaction/"))
    expect(page.get_by_label("Login")).to_be_visible()


def _idle_for(portal: PanvaPortal, page: Page, minutes: int) -> None:
    """Move this browser's last activity back by ``minutes`` (the portal's clock check)."""
    sid = next(c["value"] for c in page.context.cookies(portal.url) if c["name"] == "portal")
    client = portal.app.test_client()
    client.set_cookie("portal", sid)
    with client.session_transaction() as session:
        session["customer"]["seen"] = time.time() - minutes * 60


def _sign_in(page: Page, portal: PanvaPortal) -> None:
    page.goto(f"{portal.url}/orders")
    page.wait_for_url(re.compile(re.escape(portal.provider_base) + r"/interaction/"))
    page.get_by_label("Login").fill("hanako")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{portal.url}/orders")


def test_after_the_idle_limit_billing_says_why_logs_in_again_and_opens_billing(
    page: Page, auth0_portal: PanvaPortal, stack: DemoStack
):
    portal = auth0_portal
    _sign_in(page, portal)
    _idle_for(portal, page, 31)
    page.get_by_role("button", name="Manage billing and invoices").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Please log in again")
    expect(page.get_by_text("after 30 minutes without activity")).to_be_visible()
    _screenshot(page, "session-expiry-1-asked-to-log-in")
    page.get_by_role("link", name="Log in again").click()
    # Still signed in at the provider: back at once, and the portal finishes the click.
    page.wait_for_url(re.compile(re.escape(stack.stripe_url) + r"/"))
    assert "billing" in page.url or "portal" in page.url, page.url


def test_logout_after_the_idle_limit_ends_on_you_have_been_logged_out(
    page: Page, auth0_portal: PanvaPortal
):
    portal = auth0_portal
    _sign_in(page, portal)
    _idle_for(portal, page, 31)
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(re.compile(re.escape(portal.provider_base) + r"/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{portal.url}/")
    expect(page.get_by_role("status")).to_have_text("You have been logged out.")
    _screenshot(page, "session-expiry-2-logged-out")


def _screenshot(page: Page, name: str) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
