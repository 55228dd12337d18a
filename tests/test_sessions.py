"""Sessions live on the server: logout, idle time and login each end the old one."""

from __future__ import annotations

import time

from portal import create_app
from tests.conftest import AuthActions, with_settings


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/orders").get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_a_cookie_copied_before_logout_is_worthless_after_it(client, auth, stripe_api):
    auth.login("alice@example.com")
    stolen = client.get_cookie("portal").value
    client.post("/logout", data={"csrf_token": _csrf(client)})
    client.set_cookie("portal", stolen)
    response = client.get("/orders")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_the_browser_holds_only_a_random_session_id(client, auth, stripe_api):
    auth.login("alice@example.com")
    value = client.get_cookie("portal").value
    assert "alice" not in value and "customer" not in value and len(value) < 100


def test_login_issues_a_new_session_id_and_csrf_token(client, auth, stripe_api):
    client.get("/auth/login")  # an anonymous session exists (login state)
    before = client.get_cookie("portal").value
    with client.session_transaction() as session:
        session["csrf_token"] = "planted-token"
    auth.login("alice@example.com")
    assert client.get_cookie("portal").value != before
    with client.session_transaction() as session:
        assert session.get("csrf_token") != "planted-token"


def test_an_idle_session_ends(client, auth, stripe_api):
    auth.login("alice@example.com")
    assert client.get("/orders").status_code == 200
    with client.session_transaction() as session:
        session["customer"]["seen"] = time.time() - 31 * 60
    assert client.get("/orders").status_code == 302


def test_activity_keeps_a_session_alive(client, auth, stripe_api):
    auth.login("alice@example.com")
    with client.session_transaction() as session:
        session["customer"]["seen"] = time.time() - 29 * 60
    assert client.get("/orders").status_code == 200
    with client.session_transaction() as session:
        assert time.time() - session["customer"]["seen"] < 5


def test_the_idle_limit_is_a_setting(settings, s3, stripe_api, idp_url):
    app = create_app(with_settings(settings, session_idle_minutes=5))
    client = app.test_client()
    AuthActions(client, idp_url).login("alice@example.com")
    with client.session_transaction() as session:
        session["customer"]["seen"] = time.time() - 6 * 60
    assert client.get("/orders").status_code == 302


def test_a_webhook_creates_no_session(client):
    from tests.test_webhooks import event, post, sign

    payload = event()
    response = post(client, payload, sign(payload))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    assert client.get_cookie("portal") is None


def test_a_webhook_leaves_the_callers_session_alone(client, auth, stripe_api):
    from tests.test_webhooks import event, post, sign

    auth.login("alice@example.com")
    cookie = client.get_cookie("portal").value
    payload = event()
    response = post(client, payload, sign(payload))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert client.get_cookie("portal").value == cookie
    assert client.get("/orders").status_code == 200
