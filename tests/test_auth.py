"""Logging in through the shop's OpenID provider (a real oidc-provider-mock server)."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest

from portal import create_app
from portal.auth.id_token import TokenRules, check_id_token_claims
from portal.auth.next_url import safe_next
from portal.auth.refusals import LoginRefused
from tests.conftest import with_settings


def test_login_redirects_to_the_provider_with_state_nonce_and_pkce(auth):
    url = urlsplit(auth.start())
    query = parse_qs(url.query)
    assert url.path == "/oauth2/authorize"
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://localhost/auth/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) >= 43
    assert len(query["state"][0]) >= 20 and len(query["nonce"][0]) >= 20
    assert "openid" in query["scope"][0].split()


def test_verified_email_logs_in_and_lands_on_orders(client, auth, stripe_api):
    response = auth.login("alice@example.com")
    assert response.status_code == 302
    assert response.headers["Location"] == "/orders"
    assert "alice@example.com" in client.get("/orders").get_data(as_text=True)


@pytest.mark.parametrize("verified", [False, None, "false", "True", "yes", 1])
def test_login_is_refused_unless_email_verified_is_true_or_the_string_true(
    client, auth, stripe_api, verified
):
    response = auth.login("eve@example.com", verified=verified)
    assert response.status_code == 403
    assert "not verified" in response.get_data(as_text=True)
    assert client.get("/orders").status_code == 302  # no session
    assert stripe_api.call_count == 0


def test_login_without_an_email_is_refused(client, auth, stripe_api):
    auth.set_user("no-email", email_verified=True)
    callback = auth.authorize(auth.start(), "no-email")
    response = client.get(callback)
    assert response.status_code == 403
    assert client.get("/orders").status_code == 302


def test_callback_without_a_login_in_progress_is_refused(client, auth):
    response = client.get("/auth/callback?code=abc&state=xyz")
    assert response.status_code == 400
    assert client.get("/orders").status_code == 302


def test_callback_with_a_different_state_is_refused(client, auth):
    auth.set_user("sub-a", email="a@example.com", email_verified=True)
    callback = auth.authorize(auth.start(), "sub-a")
    tampered = callback.replace("state=", "state=x")
    assert client.get(tampered).status_code == 400
    assert client.get("/orders").status_code == 302


def test_callback_without_state_is_refused(client, auth):
    auth.set_user("sub-a", email="a@example.com", email_verified=True)
    callback = auth.authorize(auth.start(), "sub-a")
    path, query = callback.split("?", 1)
    params = {k: v for k, v in parse_qs(query).items() if k != "state"}
    response = client.get(path, query_string={k: v[0] for k, v in params.items()})
    assert response.status_code == 400


def test_a_replayed_callback_is_refused(client, auth):
    auth.set_user("sub-a", email="a@example.com", email_verified=True)
    callback = auth.authorize(auth.start(), "sub-a")
    assert client.get(callback).status_code == 302
    client.post("/logout", data={})  # CSRF refuses; log out by clearing the cookie instead
    client.delete_cookie("portal")
    assert client.get(callback).status_code == 400


def test_cognito_style_string_true_is_accepted(client, auth, stripe_api):
    assert auth.login("alice@example.com", verified="true").status_code == 302


def test_provider_error_answer_is_a_clear_page(client, auth):
    state = parse_qs(urlsplit(auth.start()).query)["state"][0]
    response = client.get(f"/auth/callback?error=access_denied&state={state}")
    assert response.status_code == 400
    assert "did not complete" in response.get_data(as_text=True)


def test_session_is_reissued_at_login(client, auth, stripe_api):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    auth.login("alice@example.com")
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session["customer"]["email"] == "alice@example.com"


def test_session_cookie_is_httponly_and_samesite_lax(client, auth):
    auth.login("alice@example.com")
    cookie = client.get_cookie("portal")
    assert cookie is not None
    assert cookie.http_only and cookie.same_site == "Lax"


def test_https_public_url_uses_a_secure_host_cookie(settings, s3, stripe_api):
    app = create_app(with_settings(settings, public_url="https://portal.example.jp"))
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-portal"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_session_ends_after_its_absolute_lifetime(client, auth, stripe_api):
    auth.login("alice@example.com")
    with client.session_transaction() as session:
        session["customer"]["at"] = time.time() - 13 * 3600
    assert client.get("/orders").status_code == 302


@pytest.mark.parametrize(
    ("next_path", "expected"),
    [
        ("/orders/cs_test_abc", "/orders/cs_test_abc"),
        ("https://evil.example/", "/orders"),
        ("//evil.example/", "/orders"),
        ("/\\evil.example/", "/orders"),
        ("/\\/evil.example", "/orders"),
        ("javascript:alert(1)", "/orders"),
        ("/orders\r\nSet-Cookie: x=1", "/orders"),
        ("orders", "/orders"),
    ],
)
def test_next_accepts_only_same_site_paths(client, auth, next_path, expected):
    response = auth.login("alice@example.com", next_path=next_path)
    assert response.headers["Location"] == expected


@pytest.mark.parametrize("value", [None, "", "/ok?x=1"])
def test_safe_next_keeps_empty_and_plain_paths(value):
    assert safe_next(value) == (value or None)


def test_a_logout_without_a_token_or_origin_asks_before_logging_out(client, auth, stripe_api):
    auth.login("alice@example.com")
    response = client.post("/logout")
    assert response.status_code == 400
    assert "Log out?" in response.get_data(as_text=True)
    assert client.get("/orders").status_code == 200


def test_logout_clears_the_session_and_continues_to_the_provider(client, auth, stripe_api, app):
    auth.login("alice@example.com")
    page = client.get("/orders").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/oauth2/end_session"
    assert parse_qs(location.query)["post_logout_redirect_uri"] == ["http://localhost/"]
    assert client.get("/orders").status_code == 302


def test_logout_by_get_is_not_allowed(client):
    assert client.get("/logout").status_code == 405


def test_provider_down_is_a_503_page(settings, s3, stripe_api):
    app = create_app(with_settings(settings, oidc_issuer="http://127.0.0.1:9"))
    response = app.test_client().get("/auth/login")
    assert response.status_code == 503


# --- ID-token claim rules (the checks authlib leaves to us) -------------------------------

ISSUER, CLIENT, NONCE, NOW = "https://idp.example", "portal", "n-123", 1_800_000_000.0


def _claims(**changes: object) -> dict:
    claims = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "u1",
        "iat": NOW,
        "exp": NOW + 300,
        "nonce": NONCE,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _check(claims: dict, leeway: int = 60) -> None:
    rules = TokenRules(ISSUER, CLIENT, "secret", ("RS256",), leeway)
    check_id_token_claims(claims, rules, nonce=NONCE, now=NOW)


def test_good_claims_pass():
    _check(_claims())
    _check(_claims(aud=[CLIENT], azp=CLIENT))


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"iss": None},
        {"aud": "someone-else"},
        {"aud": None},
        {"aud": "someone-else", "azp": CLIENT},
        {"aud": [CLIENT, "untrusted"]},
        {"azp": "someone-else"},
        {"sub": None},
        {"sub": ""},
        {"iat": None},
        {"exp": None},
        {"exp": NOW - 61},
        {"exp": True},
        {"iat": NOW + 61},
        {"iat": True},
        {"nbf": NOW + 61},
        {"nonce": None},
        {"nonce": "different"},
    ],
)
def test_claims_that_break_a_rule_are_refused(changes):
    with pytest.raises(LoginRefused):
        _check(_claims(**changes))


def test_clock_differences_within_the_leeway_are_accepted():
    _check(_claims(exp=NOW - 59, iat=NOW + 59, nbf=NOW + 59))


def test_the_leeway_is_a_setting():
    _check(_claims(iat=NOW + 90), leeway=120)
    with pytest.raises(LoginRefused, match="90 s in the future"):
        _check(_claims(iat=NOW + 90), leeway=60)


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"oidc_email_trust": "provider"}, "PORTAL_OIDC_EMAIL_TRUST=provider"),
        ({"oidc_algorithms": ("RS256", "HS256")}, "PORTAL_OIDC_ALGORITHMS allows HS256"),
    ],
)
def test_start_up_warns_when_a_relaxed_login_setting_is_on(
    settings, s3, stripe_api, caplog, changes, named
):
    create_app(with_settings(settings, **changes))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(named in message for message in warnings)


def test_strict_settings_start_without_warnings(settings, s3, stripe_api, caplog):
    create_app(settings)
    assert not [r for r in caplog.records if r.name.startswith("portal.auth")]


def test_refused_login_offers_a_retry_that_keeps_the_destination(client, auth, stripe_api):
    response = auth.login("eve@example.com", verified=False, next_path="/orders/cs_test_1")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert 'href="/auth/login?next=/orders/cs_test_1"' in page
