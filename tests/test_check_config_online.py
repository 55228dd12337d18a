"""``portal check-config --online``: the provider's discovery and keys read with the
settings, one line per check, and a non-zero exit on a problem that stops logins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from portal.cli import main
from tests.support.bad_idp import CLIENT_ID, CLIENT_SECRET, BadIdP, run_bad_idp

BASE = {
    "PORTAL_SECRET_KEY": "x" * 40,
    "PORTAL_PUBLIC_URL": "https://portal.example.jp",
    "PORTAL_STRIPE_SECRET_KEY": "sk_test_abc123",
    "PORTAL_STRIPE_WEBHOOK_SECRET": "whsec_abc123",
    "PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
    "PORTAL_OIDC_CLIENT_SECRET": CLIENT_SECRET,
    "PORTAL_S3_BUCKET": "shop-deliverables",
    "PORTAL_ORDER_ID_KEY": "k" * 40,
}


@pytest.fixture
def idp() -> Iterator[BadIdP]:
    with run_bad_idp() as provider:
        yield provider


def check(monkeypatch, capsys, **env: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    for name in [n for n in __import__("os").environ if n.startswith("PORTAL_")]:
        monkeypatch.delenv(name)
    for name, value in {**BASE, **env}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir("/")  # no .env
    status = main(["check-config", "--online"])
    return status, capsys.readouterr().out


def test_a_well_configured_provider_passes(idp, monkeypatch, capsys):
    status, out = check(monkeypatch, capsys, PORTAL_OIDC_ISSUER=idp.issuer)
    assert status == 0, out
    assert "OpenID Connect" in out
    assert f"ok    issuer matches exactly: {idp.issuer}" in out
    assert "JWKS" in out and "1 key(s)" in out
    assert "logout continues to end_session_endpoint" in out
    assert "fail" not in out


def test_a_trailing_slash_mismatch_fails_and_says_so(idp, monkeypatch, capsys):
    status, out = check(monkeypatch, capsys, PORTAL_OIDC_ISSUER=idp.issuer + "/")
    assert status == 1
    assert "fail  issuer mismatch" in out and "the trailing '/' differs" in out


def test_algorithms_the_provider_does_not_offer_fail_with_the_setting_to_change(
    idp, monkeypatch, capsys
):
    status, out = check(
        monkeypatch, capsys, PORTAL_OIDC_ISSUER=idp.issuer, PORTAL_OIDC_ALGORITHMS="PS256"
    )
    assert status == 1
    assert "set PORTAL_OIDC_ALGORITHMS" in out


def test_an_unreachable_provider_fails(monkeypatch, capsys):
    status, out = check(monkeypatch, capsys, PORTAL_OIDC_ISSUER="http://127.0.0.1:9")
    assert status == 1
    assert "could not be read (ConnectionError)" in out


@responses.activate
def test_a_google_like_provider_warns_about_logout_and_a_strict_one_names_the_auth_method(
    monkeypatch, capsys
):
    issuer = "https://accounts.example.com"
    responses.get(
        f"{issuer}/.well-known/openid-configuration",
        json={
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/auth",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/certs",
            "response_types_supported": ["code"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        },
    )
    responses.get(f"{issuer}/certs", json={"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]})
    status, out = check(monkeypatch, capsys, PORTAL_OIDC_ISSUER=issuer)
    assert status == 1
    assert "set PORTAL_OIDC_TOKEN_AUTH_METHOD=client_secret_post" in out
    assert "warn  no end_session_endpoint" in out
    assert "no userinfo endpoint" in out
