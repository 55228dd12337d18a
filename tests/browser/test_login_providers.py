"""Logging in and out in real Chromium through panva's oidc-provider, shaped like Auth0.

The portal here is a second one beside the demo's, on the demo's Stripe emulator and S3,
with panva's provider (issuer ending in ``/``) instead of the demo's.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from portal import create_app
from portal.devstack.demo import API_KEY, BUCKET, DemoStack
from portal.devstack.serving import free_port, run_in_thread
from portal.settings import Settings
from tests.support.panva import CLIENT_ID, CLIENT_SECRET, PROFILES, PanvaProvider, run_provider

HANAKO = "hanako@example.jp"


@dataclass(frozen=True)
class PanvaPortal:
    url: str
    provider: PanvaProvider

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
        with run_in_thread(create_app(settings), port=port):
            yield PanvaPortal(url, provider)


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
