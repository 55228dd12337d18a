"""Headers, error pages and health: what every response promises."""

from __future__ import annotations

import pytest

from portal import create_app
from tests.conftest import with_settings


def test_every_response_carries_the_security_headers(client):
    response = client.get("/")
    assert response.headers["Content-Security-Policy"].startswith(
        "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self' "
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_pages_behind_login_are_not_cached(client, logged_in, stripe_api):
    assert client.get("/orders").headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(client):
    response = client.get("/static/portal.css")
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"


def test_pages_have_no_inline_script(client, logged_in, stripe_api):
    for path in ("/", "/orders", "/nowhere"):
        assert b"<script" not in client.get(path).data


def test_healthz_answers_without_calling_stripe(client, stripe_api):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}
    assert stripe_api.call_count == 0


def test_unknown_page_is_our_404(client):
    response = client.get("/wp-admin.php")
    assert response.status_code == 404
    assert "We could not find this page" in response.get_data(as_text=True)


def test_json_clients_get_a_json_error(client):
    response = client.get("/nowhere", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.json == {
        "error": {
            "status": 404,
            "message": "We could not find this page. Please check the address.",
        }
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/orders"), ("PUT", "/"), ("DELETE", "/healthz"), ("PUT", "/auth/callback")],
)
def test_wrong_methods_are_405_pages(client, method, path):
    assert client.open(path, method=method).status_code == 405


def test_oversized_body_is_413(client):
    response = client.post("/logout", data=b"x" * (1024 * 1024 + 10), content_type="text/plain")
    assert response.status_code == 413


def test_an_unexpected_error_is_a_plain_500_page(app, client):
    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("sk_test_portal1234 leaked?")

    response = client.get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "sk_test" not in body and "RuntimeError" not in body


def test_trusted_proxy_headers_are_honoured_only_when_configured(settings, s3, stripe_api):
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.jp"}
    plain = create_app(settings)

    @plain.get("/whoami")
    def whoami() -> str:
        from flask import request

        return request.url_root

    assert plain.test_client().get("/whoami", headers=headers).data == b"http://localhost/"
    proxied = create_app(with_settings(settings, trusted_proxies=1))
    proxied.add_url_rule("/whoami", view_func=whoami)
    assert proxied.test_client().get("/whoami", headers=headers).data == b"https://shop.example.jp/"


def _logout(client, **headers: str):  # type: ignore[no-untyped-def]
    page = client.get("/orders").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post("/logout", data={"csrf_token": token}, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "http://evil.example"}, {"Origin": "null"}, {"Referer": "http://evil.example/"}],
)
def test_a_form_posted_from_another_site_is_refused(client, logged_in, stripe_api, headers):
    assert _logout(client, **headers).status_code == 400
    assert client.get("/orders").status_code == 200  # still logged in


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://localhost"}, {"Referer": "http://localhost/orders"}, {}]
)
def test_a_form_from_the_portals_own_pages_goes_through(client, logged_in, stripe_api, headers):
    assert _logout(client, **headers).status_code == 302


def _form_action(response) -> set[str]:  # type: ignore[no-untyped-def]
    policy = response.headers["Content-Security-Policy"]
    (directive,) = [d.strip() for d in policy.split(";") if d.strip().startswith("form-action")]
    return set(directive.split()[1:])


def test_forms_may_lead_only_to_the_portal_stripe_and_the_login_provider(settings, s3, stripe_api):
    """F19: a form injected into a page cannot post anywhere else; ours still reach
    Stripe's billing portal and the provider's logout (browsers check redirects too)."""
    app = create_app(
        with_settings(settings, oidc_logout_url="https://auth.shop.example/logout?c={client_id}")
    )
    allowed = _form_action(app.test_client().get("/"))
    issuer = settings.oidc_issuer.rstrip("/")
    assert allowed == {
        "'self'",
        "https://billing.stripe.com",
        "https://checkout.stripe.com",
        "https://auth.shop.example",
        issuer,
    }


def test_a_shops_custom_stripe_domain_from_its_payment_links_may_be_a_form_target(
    settings, s3, stripe_api
):
    """Stripe's custom domains serve checkout and the billing portal alike."""
    links = (("photo", "https://pay.shop.example/b/test_123"),)
    app = create_app(with_settings(settings, payment_links=links))
    assert "https://pay.shop.example" in _form_action(app.test_client().get("/"))


def test_form_action_learns_the_providers_login_page_once_discovery_is_read(
    client, stripe_api, idp_url
):
    client.get("/auth/login")  # reads discovery, sends the browser to the provider
    allowed = _form_action(client.get("/"))
    assert idp_url.rstrip("/") in allowed  # the mock serves its endpoints on its issuer


def test_hsts_is_the_shops_setting_over_https(settings, s3, stripe_api):
    app = create_app(
        with_settings(
            settings, public_url="https://portal.example.jp", hsts="max-age=600; includeSubDomains"
        )
    )
    response = app.test_client().get("/", base_url="https://portal.example.jp")
    assert response.headers["Strict-Transport-Security"] == "max-age=600; includeSubDomains"


def test_the_language_cookie_is_secure_when_the_portal_is_https_behind_a_plain_http_hop(
    settings, s3, stripe_api
):
    """F19: behind a TLS proxy the portal's own hop is http; the cookie follows the
    public URL, not that hop."""
    app = create_app(with_settings(settings, public_url="https://portal.example.jp"))
    response = app.test_client().get("/language/ja", base_url="http://portal.example.jp")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("portal_lang=ja") and "Secure" in cookie
