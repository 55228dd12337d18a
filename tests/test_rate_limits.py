"""Rate limits per IP and per customer, with a 429 page; spoofed proxy headers do not help."""

from __future__ import annotations

from portal import create_app, rate_limits
from tests.conftest import AuthActions, with_settings
from tests.support.deliveries import fulfil
from tests.support.stripe_fixtures import checkout_session
from tests.test_webhooks import event, post, sign


def test_too_many_logins_from_one_browser_get_a_429_page_with_retry_after(client):
    answers = [client.get("/auth/login").status_code for _ in range(20)]
    assert answers == [302] * 20
    response = client.get("/auth/login")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert "Too many requests" in response.get_data(as_text=True)


def test_another_browser_behind_the_same_ip_still_logs_in(client, app, auth, stripe_api):
    """F8: one browser at its limit does not lock out the office or carrier NAT it sits in."""
    for _ in range(21):
        client.get("/auth/login")
    neighbour = AuthActions(app.test_client(), auth.idp_url)
    assert neighbour.login("kate@example.com").status_code == 302


def test_bogus_callbacks_count_against_nothing(client, auth, stripe_api):
    """F8: callbacks that no login of this browser started are not counted anywhere."""
    answers = {client.get(f"/auth/callback?code=x&state=s{n}").status_code for n in range(60)}
    assert answers == {400}
    assert auth.login("alice@example.com").status_code == 302


def test_the_per_ip_ceiling_holds_for_browsers_without_cookies(
    settings, s3, stripe_api, monkeypatch
):
    monkeypatch.setattr(rate_limits, "LOGIN_PER_IP", "30 per minute")
    app = create_app(settings)
    answers = [app.test_client().get("/auth/login").status_code for _ in range(31)]
    assert answers[:30] == [302] * 30
    assert answers[30] == 429


def test_a_spoofed_x_forwarded_for_does_not_reset_the_ip_ceiling(
    settings, s3, stripe_api, monkeypatch
):
    monkeypatch.setattr(rate_limits, "LOGIN_PER_IP", "30 per minute")
    app = create_app(settings)
    for n in range(30):
        app.test_client().get("/auth/login", headers={"X-Forwarded-For": f"203.0.113.{n}"})
    response = app.test_client().get("/auth/login", headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status_code == 429


def test_behind_a_trusted_proxy_each_client_ip_has_its_own_ceiling(
    settings, s3, stripe_api, monkeypatch
):
    monkeypatch.setattr(rate_limits, "LOGIN_PER_IP", "30 per minute")
    app = create_app(with_settings(settings, trusted_proxies=1))
    for _ in range(30):
        app.test_client().get("/auth/login", headers={"X-Forwarded-For": "203.0.113.1"})
    first = app.test_client().get("/auth/login", headers={"X-Forwarded-For": "203.0.113.1"})
    second = app.test_client().get("/auth/login", headers={"X-Forwarded-For": "203.0.113.2"})
    assert (first.status_code, second.status_code) == (429, 302)


def test_logins_are_limited_per_account(app, auth, idp_url, stripe_api):
    for _ in range(10):
        assert AuthActions(app.test_client(), idp_url).login("alice@example.com").status_code == 302
    refused = AuthActions(app.test_client(), idp_url).login("alice@example.com")
    assert refused.status_code == 429
    assert AuthActions(app.test_client(), idp_url).login("kate@example.com").status_code == 302


def test_downloads_are_limited_per_customer(client, logged_in, stripe_api, s3):
    session = checkout_session("alice@example.com", reference="MANY-DL")
    stripe_api.add(session)
    fulfil(s3, session, "a.zip")
    url = f"/orders/{session['id']}/files/a.zip"
    assert all(client.get(url).status_code == 302 for _ in range(30))
    assert client.get(url).status_code == 429


def test_forged_webhooks_are_limited_but_genuine_ones_are_not(client):
    genuine = event("customer.created")
    assert all(post(client, genuine, sign(genuine)).status_code == 200 for _ in range(100))
    assert all(post(client, genuine, "t=1,v1=forged").status_code == 400 for _ in range(60))
    assert post(client, genuine, "t=1,v1=forged").status_code == 429


def test_over_the_limit_forged_webhooks_get_429_and_genuine_ones_still_pass(client):
    genuine = event("customer.created")
    for _ in range(60):
        post(client, genuine, "t=1,v1=forged")
    refused = post(client, genuine, "t=1,v1=forged")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.is_json
    assert post(client, genuine, sign(genuine)).status_code == 200


def test_signed_but_unreadable_webhooks_are_not_counted_as_forged(client):
    for _ in range(70):
        assert post(client, b"not json", sign(b"not json")).status_code == 400
    assert post(client, b"{}", "t=1,v1=forged").status_code == 400
