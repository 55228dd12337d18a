"""The misbehaving provider does what each knob says, seen by a real authlib client.

The portal's login tests trust this provider to break exactly one rule at a time, so each
knob is checked here from the outside: authlib's requests client runs the code flow over
HTTP and joserfc verifies the ID token against the served JWKS.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, OctKey

from tests.support.bad_idp import (
    CLIENT_ID,
    CLIENT_SECRET,
    DROP,
    TOKEN_LIFETIME,
    BadIdP,
    run_bad_idp,
)

REDIRECT_URI = "http://portal.test/auth/callback"
NONCE = "n-0S6_WzA2Mj"
TIMEOUT = 5


@pytest.fixture
def idp() -> Iterator[BadIdP]:
    with run_bad_idp() as server:
        yield server


def _session(**kwargs: Any) -> OAuth2Session:
    return OAuth2Session(
        CLIENT_ID,
        CLIENT_SECRET,
        scope="openid email",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
        default_timeout=TIMEOUT,
        **kwargs,
    )


def _authorize(idp: BadIdP, session: OAuth2Session, verifier: str) -> dict[str, list[str]]:
    """Visit /authorize as a browser would; the query the provider redirects back with."""
    url, _state = session.create_authorization_url(
        idp.issuer + "/authorize", state="st-123", nonce=NONCE, code_verifier=verifier
    )
    response = requests.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return parse_qs(urlsplit(location).query)


def _login(idp: BadIdP, **session_kwargs: Any) -> dict[str, Any]:
    """The whole code flow with PKCE; the token response."""
    session = _session(**session_kwargs)
    verifier = "v" * 64
    code = _authorize(idp, session, verifier)["code"][0]
    token: dict[str, Any] = session.fetch_token(
        idp.issuer + "/token", code=code, code_verifier=verifier
    )
    return token


def _jwks(idp: BadIdP) -> KeySet:
    response = requests.get(idp.issuer + "/jwks", timeout=TIMEOUT)
    response.raise_for_status()
    return KeySet.import_key_set(response.json())


def _verified_claims(idp: BadIdP, id_token: str, algorithms: list[str] | None = None) -> Any:
    token = jwt.decode(id_token, _jwks(idp), algorithms=algorithms or ["RS256"])
    return token.claims


def _unverified(id_token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims, read without checking the signature (for the broken ones)."""

    def part(segment: str) -> dict[str, Any]:
        decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment + "=" * 4))
        return decoded

    header, claims, _signature = id_token.split(".")
    return part(header), part(claims)


def test_discovery_describes_every_endpoint(idp: BadIdP) -> None:
    metadata = requests.get(idp.issuer + "/.well-known/openid-configuration", timeout=5).json()
    assert metadata["issuer"] == idp.issuer
    for name, path in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/end_session"),
    ]:
        assert metadata[name] == idp.issuer + path
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]


def test_discovery_can_lie_about_issuer_and_algorithms(idp: BadIdP) -> None:
    idp.behaviour.discovery_issuer = "https://evil.example"
    idp.behaviour.id_token_signing_alg_values_supported = ["RS256", "none"]
    metadata = requests.get(idp.issuer + "/.well-known/openid-configuration", timeout=5).json()
    assert metadata["issuer"] == "https://evil.example"
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256", "none"]


def test_default_login_issues_a_valid_id_token(idp: BadIdP) -> None:
    token = _login(idp)
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "openid email"
    assert token["expires_in"] == TOKEN_LIFETIME
    claims = _verified_claims(idp, token["id_token"])
    assert claims["iss"] == idp.issuer
    assert claims["aud"] == CLIENT_ID
    assert claims["sub"] == "user-1"
    assert claims["nonce"] == NONCE
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == TOKEN_LIFETIME
    assert abs(claims["iat"] - time.time()) < 5
    assert "auth_time" in claims
    assert _unverified(token["id_token"])[0]["kid"] == idp.kid
    assert idp.token_requests == 1


def test_authorize_records_what_the_client_asked(idp: BadIdP) -> None:
    _login(idp)
    asked = idp.authorize_requests[0]
    assert asked["nonce"] == NONCE
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == REDIRECT_URI


def test_client_secret_post_is_accepted(idp: BadIdP) -> None:
    token = _login(idp, token_endpoint_auth_method="client_secret_post")
    assert _verified_claims(idp, token["id_token"])["sub"] == "user-1"


def test_login_sub_picks_who_logs_in(idp: BadIdP) -> None:
    idp.behaviour.login_sub = "user-2"
    claims = _verified_claims(idp, _login(idp)["id_token"])
    assert claims["sub"] == "user-2"
    assert claims["email"] == "Bob.Mixed@Example.COM"


def test_state_comes_back_verbatim(idp: BadIdP) -> None:
    assert _authorize(idp, _session(), "v" * 64)["state"] == ["st-123"]


def test_state_override_replaces_state(idp: BadIdP) -> None:
    idp.behaviour.state_override = "forged"
    assert _authorize(idp, _session(), "v" * 64)["state"] == ["forged"]


def test_state_can_be_dropped(idp: BadIdP) -> None:
    idp.behaviour.state_override = DROP
    assert "state" not in _authorize(idp, _session(), "v" * 64)


def test_code_works_once(idp: BadIdP) -> None:
    session = _session()
    code = _authorize(idp, session, "v" * 64)["code"][0]
    session.fetch_token(idp.issuer + "/token", code=code, code_verifier="v" * 64)
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(idp.issuer + "/token", code=code, code_verifier="v" * 64)
    assert refused.value.error == "invalid_grant"


def test_pkce_mismatch_is_refused(idp: BadIdP) -> None:
    session = _session()
    code = _authorize(idp, session, "v" * 64)["code"][0]
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(idp.issuer + "/token", code=code, code_verifier="w" * 64)
    assert refused.value.error == "invalid_grant"


def test_missing_pkce_challenge_is_refused(idp: BadIdP) -> None:
    session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, scope="openid", redirect_uri=REDIRECT_URI)
    url, _ = session.create_authorization_url(idp.issuer + "/authorize", nonce=NONCE)
    location = requests.get(url, allow_redirects=False, timeout=TIMEOUT).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(idp.issuer + "/token", code=code)
    assert refused.value.error == "invalid_grant"


def test_pkce_is_ignored_when_not_required(idp: BadIdP) -> None:
    idp.behaviour.require_pkce = False
    session = _session()
    code = _authorize(idp, session, "v" * 64)["code"][0]
    token = session.fetch_token(idp.issuer + "/token", code=code, code_verifier="w" * 64)
    assert "id_token" in token


def test_redirect_uri_must_match(idp: BadIdP) -> None:
    session = _session()
    code = _authorize(idp, session, "v" * 64)["code"][0]
    session.redirect_uri = "http://portal.test/elsewhere"
    with pytest.raises(OAuthError) as refused:
        session.fetch_token(idp.issuer + "/token", code=code, code_verifier="v" * 64)
    assert refused.value.error == "invalid_grant"


def test_wrong_client_secret_is_unauthorized(idp: BadIdP) -> None:
    response = requests.post(
        idp.issuer + "/token",
        data={"grant_type": "authorization_code", "code": "x", "redirect_uri": REDIRECT_URI},
        auth=(CLIENT_ID, "not-the-secret"),
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_key_fails_verification_under_the_published_kid(idp: BadIdP) -> None:
    idp.behaviour.sign_with_wrong_key = True
    id_token = _login(idp)["id_token"]
    assert _unverified(id_token)[0]["kid"] == idp.kid
    with pytest.raises(BadSignatureError):
        _verified_claims(idp, id_token)


def test_alg_none_is_an_unsecured_token(idp: BadIdP) -> None:
    idp.behaviour.alg_none = True
    id_token = _login(idp)["id_token"]
    assert id_token.endswith(".")
    header, claims = _unverified(id_token)
    assert header["alg"] == "none"
    assert claims["nonce"] == NONCE
    with pytest.raises(JoseError):
        _verified_claims(idp, id_token)


def test_hs256_is_keyed_with_the_client_secret(idp: BadIdP) -> None:
    idp.behaviour.alg = "HS256"
    id_token = _login(idp)["id_token"]
    token = jwt.decode(id_token, OctKey.import_key(CLIENT_SECRET), algorithms=["HS256"])
    assert token.claims["sub"] == "user-1"
    with pytest.raises(JoseError):
        _verified_claims(idp, id_token)


def test_es256_is_signed_with_a_published_ec_key(idp: BadIdP) -> None:
    idp.behaviour.alg = "ES256"
    id_token = _login(idp)["id_token"]
    assert _verified_claims(idp, id_token, algorithms=["ES256"])["sub"] == "user-1"
    assert _unverified(id_token)[0]["kid"] != idp.kid


@pytest.mark.parametrize(
    "override",
    [
        {"iss": "https://evil.example"},
        {"aud": "someone-else"},
        {"aud": [CLIENT_ID, "untrusted"]},
        {"azp": CLIENT_ID},
        {"exp": 1},
        {"nonce": "another"},
        {"email_verified": False},
    ],
)
def test_claims_override_is_applied_and_signed(idp: BadIdP, override: dict[str, Any]) -> None:
    idp.behaviour.claims_override = override
    claims = _verified_claims(idp, _login(idp)["id_token"])
    assert {name: claims[name] for name in override} == override


@pytest.mark.parametrize(
    "claim", ["iss", "aud", "sub", "iat", "exp", "nonce", "email", "email_verified"]
)
def test_claims_remove_leaves_the_claim_out(idp: BadIdP, claim: str) -> None:
    idp.behaviour.claims_remove = {claim}
    claims = _verified_claims(idp, _login(idp)["id_token"])
    assert claim not in claims
    assert len(claims) == 8


def test_omit_kid_leaves_one_key_to_guess(idp: BadIdP) -> None:
    idp.behaviour.omit_kid = True
    id_token = _login(idp)["id_token"]
    assert "kid" not in _unverified(id_token)[0]
    assert len(_jwks(idp).keys) == 1
    assert _verified_claims(idp, id_token)["sub"] == "user-1"


def test_jwks_extra_keys_make_a_missing_kid_ambiguous(idp: BadIdP) -> None:
    idp.behaviour.omit_kid = True
    idp.behaviour.jwks_extra_keys = 2
    id_token = _login(idp)["id_token"]
    assert len({key.kid for key in _jwks(idp).keys}) == 3
    with pytest.raises(InvalidKeyIdError):
        _verified_claims(idp, id_token)


def test_rotate_key_serves_only_the_new_key(idp: BadIdP) -> None:
    old_jwks = _jwks(idp)
    old_kid = idp.kid
    new_kid = idp.rotate_key()
    assert new_kid != old_kid
    id_token = _login(idp)["id_token"]
    assert _unverified(id_token)[0]["kid"] == new_kid
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(id_token, old_jwks, algorithms=["RS256"])
    assert [key.kid for key in _jwks(idp).keys] == [new_kid]
    assert _verified_claims(idp, id_token)["sub"] == "user-1"
    assert idp.jwks_requests == 3


def test_userinfo_answers_for_the_access_token(idp: BadIdP) -> None:
    session = _session(token=_login(idp))
    info = session.get(idp.issuer + "/userinfo").json()
    assert info == {"sub": "user-1", "email": "alice@example.com", "email_verified": True}
    assert session.post(idp.issuer + "/userinfo").json()["sub"] == "user-1"
    assert idp.userinfo_requests == 2


def test_userinfo_requires_a_bearer_token(idp: BadIdP) -> None:
    assert requests.get(idp.issuer + "/userinfo", timeout=TIMEOUT).status_code == 401
    response = requests.get(
        idp.issuer + "/userinfo", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT
    )
    assert response.status_code == 401


def test_userinfo_can_name_another_subject_and_change_claims(idp: BadIdP) -> None:
    idp.behaviour.userinfo_sub_override = "someone-else"
    idp.behaviour.userinfo_claims_override = {"email_verified": False}
    idp.behaviour.userinfo_claims_remove = {"email"}
    info = _session(token=_login(idp)).get(idp.issuer + "/userinfo").json()
    assert info == {"sub": "someone-else", "email_verified": False}


def test_end_session_is_recorded(idp: BadIdP) -> None:
    response = requests.get(
        idp.issuer + "/end_session",
        params={"id_token_hint": "tok", "post_logout_redirect_uri": "http://portal.test/"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert idp.end_session_requests == [
        {"id_token_hint": "tok", "post_logout_redirect_uri": "http://portal.test/"}
    ]
