"""The portal as the README deploys it: behind nginx (config/nginx/order-portal.conf) over
https, driven over the network the way a browser drives it."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator

import pytest
import requests

from portal.devstack.demo import DemoStack, demo_stack
from portal.devstack.serving import free_port
from tests.support.tls_proxy import TlsProxy, tls_proxy

HANAKO = "hanako@example.jp"


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DemoStack, TlsProxy]]:
    """The demo stack with its portal at https://127.0.0.1:<port>, through nginx."""
    https_port = free_port()
    public_url = f"https://127.0.0.1:{https_port}"
    with demo_stack(0, fulfilment_delay=0.5, public_url=public_url) as stack:
        folder = tmp_path_factory.mktemp("nginx")
        with tls_proxy(stack.portal_address, folder, https_port=https_port) as proxy:
            yield stack, proxy


@pytest.fixture
def stack(deployed: tuple[DemoStack, TlsProxy]) -> DemoStack:
    return deployed[0]


@pytest.fixture
def proxy(deployed: tuple[DemoStack, TlsProxy]) -> TlsProxy:
    return deployed[1]


def _browser(proxy: TlsProxy) -> requests.Session:
    browser = requests.Session()
    # REQUESTS_CA_BUNDLE (set on many machines) would win over ``verify``.
    browser.trust_env = False
    browser.verify = str(proxy.ca)
    browser.headers["Accept-Language"] = "en"
    return browser


def _login(stack: DemoStack, proxy: TlsProxy, email: str = HANAKO) -> tuple[requests.Session, str]:
    """Log in through the provider's form; returns the browser and the order list's HTML."""
    browser = _browser(proxy)
    form = browser.get(f"{proxy.url}/orders", timeout=10)
    assert form.url.startswith(stack.oidc_url)
    orders = browser.post(form.url, data={"sub": email}, timeout=10)
    assert orders.url == f"{proxy.url}/orders", orders.url
    return browser, orders.text


def _token(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _form_headers(proxy: TlsProxy) -> dict[str, str]:
    """What every browser sends with a form POST from one of the portal's pages (the
    ``Referer`` too, since ``same-origin``; without it the form must still work)."""
    return {"Origin": proxy.url}


def test_the_session_cookie_is_secure_and_host_only_behind_the_proxy(stack, proxy):
    browser, _ = _login(stack, proxy)
    (cookie,) = [c for c in browser.cookies if c.name.endswith("portal")]
    assert cookie.name == "__Host-portal" and cookie.secure and not cookie.domain_specified


def test_pages_keep_same_origin_referrers_and_say_https_only(stack, proxy):
    page = _browser(proxy).get(proxy.url + "/", timeout=10)
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")


def test_log_out_works_over_https(stack, proxy):
    browser, orders = _login(stack, proxy)
    answer = browser.post(
        f"{proxy.url}/logout",
        data={"csrf_token": _token(orders)},
        headers=_form_headers(proxy),
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code in (302, 303), answer.text[:300]
    assert answer.headers["Location"].startswith(stack.oidc_url)  # the provider's logout
    again = browser.get(f"{proxy.url}/orders", allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/auth/login" in again.headers["Location"]


def test_log_out_works_with_only_a_same_origin_referer(stack, proxy):
    browser, orders = _login(stack, proxy)
    answer = browser.post(
        f"{proxy.url}/logout",
        data={"csrf_token": _token(orders)},
        headers={"Referer": f"{proxy.url}/orders"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code in (302, 303), answer.text[:300]


def test_manage_billing_works_over_https(stack, proxy):
    browser, orders = _login(stack, proxy)
    portal = browser.post(
        f"{proxy.url}/orders/billing",
        data={"csrf_token": _token(orders)},
        headers=_form_headers(proxy),
        timeout=10,
    )
    assert portal.url.startswith(f"{stack.stripe_url}/billing/bps_"), portal.text[:300]
    assert f'href="{proxy.url}/orders"' in portal.text  # and back to the portal, over https


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Referer": "https://evil.example/page"},
        {},
    ],
    ids=["other origin", "opaque origin", "other referer", "neither"],
)
def test_a_form_posted_from_elsewhere_is_refused_and_the_customer_stays_logged_in(
    stack, proxy, headers
):
    browser, orders = _login(stack, proxy)
    answer = browser.post(
        f"{proxy.url}/logout",
        data={"csrf_token": _token(orders)},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert browser.get(f"{proxy.url}/orders", timeout=10).url == f"{proxy.url}/orders"


def test_plain_http_on_the_proxy_redirects_to_https(proxy):
    answer = requests.get(f"{proxy.http_url}/orders?page=2", allow_redirects=False, timeout=10)
    assert answer.status_code == 301
    assert re.fullmatch(r"https://127\.0\.0\.1/orders\?page=2", answer.headers["Location"])


def test_the_proxy_request_id_reaches_the_audit_log_and_a_spoofed_client_ip_does_not(
    stack, proxy, caplog
):
    caplog.set_level(logging.INFO, logger="portal.audit")
    answer = _browser(proxy).post(
        f"{proxy.url}/webhooks/stripe",
        data=b"{}",
        headers={"Stripe-Signature": "t=1,v1=00", "X-Forwarded-For": "203.0.113.9"},
        timeout=10,
    )
    assert answer.status_code == 400
    request_id = answer.headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)  # nginx's $request_id
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "portal.audit"]
    (line,) = [entry for entry in lines if entry["request_id"] == request_id]
    assert line["event"] == "webhook_refused" and line["ip"] == "127.0.0.1"
