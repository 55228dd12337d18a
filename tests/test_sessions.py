"""Sessions live on the server: logout, idle time and login each end the old one."""

from __future__ import annotations

import time
from pathlib import Path

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
    with client.session_transaction() as session:
        session["csrf_token"] = "planted-token"
    before = client.get_cookie("portal").value
    auth.login("alice@example.com")
    assert client.get_cookie("portal").value != before
    with client.session_transaction() as session:
        assert session.get("csrf_token") != "planted-token"


def test_an_idle_session_ends(client, auth, stripe_api):
    auth.login("alice@example.com")
    assert client.get("/orders").status_code == 200
    with client.session_transaction() as session:
        session["customer"]["seen"] = time.time() - 31 * 60
    response = client.get("/orders")
    assert response.status_code == 401  # "logged out after 30 minutes without activity"
    with client.session_transaction() as session:
        assert "customer" not in session and "id_token" not in session


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
    response = client.get("/orders")
    assert response.status_code == 401
    assert "after 5 minutes without activity" in response.get_data(as_text=True)


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


def _stored_sessions(app) -> set[str]:  # type: ignore[no-untyped-def]
    return {p.name for p in (Path(app.instance_path) / "sessions").iterdir()}


def test_anonymous_visitors_and_started_logins_store_no_session(app, client):
    """F11: a flood of anonymous logins cannot evict logged-in customers' sessions."""
    before = _stored_sessions(app)
    for _ in range(5):
        assert client.get("/").status_code == 200
        assert client.get("/auth/login").status_code == 302
    assert client.get("/auth/callback?code=x&state=y").status_code == 400
    assert _stored_sessions(app) == before
    assert client.get_cookie("portal") is None


def test_a_callback_without_a_login_in_flight_leaves_the_session_alone(
    client, logged_in, stripe_api
):
    """F10: a cross-site link to the callback cannot log a customer out."""
    response = client.get("/auth/callback?code=x&state=forged")
    assert response.status_code == 400
    assert client.get("/orders").status_code == 200


def test_a_refused_login_leaves_the_current_session_alone(client, auth, stripe_api):
    auth.set_user("sub-alice", email="alice@example.com", email_verified=True)
    auth.set_user("sub-eve", email="eve@example.com", email_verified=False)
    first_tab, second_tab = auth.start(), auth.start()
    assert client.get(auth.authorize(first_tab, "sub-alice")).status_code == 302
    assert client.get(auth.authorize(second_tab, "sub-eve")).status_code == 403
    assert "alice@example.com" in client.get("/orders").get_data(as_text=True)


def test_logins_in_flight_live_in_an_encrypted_cookie(client, auth):
    auth.start("/orders/cs_test_secret_destination")
    cookie = client.get_cookie("portal-login")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    assert "cs_test_secret_destination" not in cookie.value


def test_a_tampered_login_cookie_is_a_login_that_expired(client, auth):
    auth.set_user("sub-a", email="a@example.com", email_verified=True)
    callback = auth.authorize(auth.start(), "sub-a")
    value = client.get_cookie("portal-login").value
    client.set_cookie("portal-login", value[:-4] + "AAAA")
    response = client.get(callback)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
