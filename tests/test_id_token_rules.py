"""Each ID-token rule, broken by a provider that misbehaves on purpose, refuses the login.

Named after the OpenID Foundation's relying-party conformance cases where one exists.
Every refusal ends on an error page, with no session and no Stripe call.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from portal import create_app
from portal.auth import discovery
from tests.conftest import with_settings
from tests.support.bad_idp import CLIENT_ID, CLIENT_SECRET, DROP, BadIdP, run_bad_idp


@pytest.fixture
def idp() -> Iterator[BadIdP]:
    with run_bad_idp() as provider:
        yield provider


@pytest.fixture
def portal(settings, s3, stripe_api, idp):  # type: ignore[no-untyped-def]
    changes = {"oidc_issuer": idp.issuer, "oidc_client_id": CLIENT_ID}
    app = create_app(with_settings(settings, **changes, oidc_client_secret=CLIENT_SECRET))
    app.config["TESTING"] = True
    return app.test_client()


def login(portal) -> int:  # type: ignore[no-untyped-def]
    """Run the whole code flow; returns the status of the portal's callback answer."""
    start = portal.get("/auth/login")
    if start.status_code != 302:
        return start.status_code
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    location = urlsplit(back.headers["Location"])
    return portal.get(f"{location.path}?{location.query}").status_code


def assert_refused(portal, stripe_api, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert login(portal) == status
    assert portal.get("/orders").status_code == 302  # not logged in
    assert stripe_api.call_count == 0


def test_a_well_behaved_provider_logs_in(portal, idp):
    assert login(portal) == 302
    assert portal.get("/orders").status_code == 200


def test_bad_sig_rs256_is_refused(portal, idp, stripe_api):
    idp.behaviour.sign_with_wrong_key = True
    assert_refused(portal, stripe_api)


def test_sig_none_is_refused_even_when_discovery_advertises_it(portal, idp, stripe_api):
    idp.behaviour.id_token_signing_alg_values_supported = ["none", "RS256"]
    idp.behaviour.alg_none = True
    assert_refused(portal, stripe_api)


@pytest.mark.parametrize("change", [{"iss": "https://evil.example"}, {"iss": None}])
def test_issuer_mismatch_is_refused(portal, idp, stripe_api, change):
    _break(idp, change)
    assert_refused(portal, stripe_api)


def test_a_discovery_issuer_other_than_the_configured_one_is_refused(portal, idp, stripe_api):
    idp.behaviour.discovery_issuer = "https://someone-else.example"
    assert_refused(portal, stripe_api)


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "another-client"},
        {"aud": None},
        {"aud": "another-client", "azp": CLIENT_ID},
        {"aud": [CLIENT_ID, "untrusted"]},
    ],
    ids=["foreign", "missing", "foreign-with-our-azp", "ours-and-untrusted"],
)
def test_aud_not_exactly_ours_is_refused(portal, idp, stripe_api, change):
    _break(idp, change)
    assert_refused(portal, stripe_api)


@pytest.mark.parametrize(
    "change",
    [{"sub": None}, {"iat": None}, {"exp": None}, {"exp": "EXPIRED"}],
    ids=["no-sub", "no-iat", "no-exp", "expired-beyond-the-leeway"],
)
def test_missing_or_expired_claims_are_refused(portal, idp, stripe_api, change):
    if change.get("exp") == "EXPIRED":
        change = {"exp": int(time.time()) - 75}
    _break(idp, change)
    assert_refused(portal, stripe_api)


@pytest.mark.parametrize("change", [{"nonce": None}, {"nonce": "not-the-one-we-sent"}])
def test_nonce_invalid_is_refused(portal, idp, stripe_api, change):
    _break(idp, change)
    assert_refused(portal, stripe_api)


def test_userinfo_bad_sub_claim_is_refused(portal, idp, stripe_api):
    idp.behaviour.claims_remove = {"email", "email_verified"}  # so userinfo is asked
    idp.behaviour.userinfo_sub_override = "somebody-else"
    assert_refused(portal, stripe_api)
    assert idp.userinfo_requests == 1


def test_email_from_userinfo_is_used_when_the_id_token_has_none(portal, idp):
    idp.behaviour.claims_remove = {"email", "email_verified"}
    assert login(portal) == 302
    assert b"alice@example.com" in portal.get("/orders").data


@pytest.mark.parametrize("verified", [False, "false", "True", 1, None])
def test_email_not_verified_as_true_or_the_string_true_is_refused(
    portal, idp, stripe_api, verified
):
    user = idp.users["user-1"]
    user["email_verified"] = verified
    if verified is None:
        del user["email_verified"]
    assert_refused(portal, stripe_api, status=403)


def test_no_email_is_refused(portal, idp, stripe_api):
    del idp.users["user-1"]["email"]
    assert_refused(portal, stripe_api, status=403)


def test_kid_absent_single_jwks_is_accepted(portal, idp):
    idp.behaviour.omit_kid = True
    assert login(portal) == 302


def test_a_rotated_signing_key_is_fetched_and_accepted(portal, idp):
    assert login(portal) == 302
    portal.post("/logout")  # CSRF refuses; start a fresh browser instead
    portal.delete_cookie("portal")
    idp.rotate_key()
    assert login(portal) == 302
    assert idp.jwks_requests >= 2


def test_hs256_signed_with_the_client_secret_is_refused(portal, idp, stripe_api):
    idp.behaviour.id_token_signing_alg_values_supported = ["HS256", "RS256"]
    idp.behaviour.alg = "HS256"
    assert_refused(portal, stripe_api)


def test_es256_is_accepted_because_it_is_on_the_allow_list(portal, idp):
    idp.behaviour.id_token_signing_alg_values_supported = ["ES256"]
    idp.behaviour.alg = "ES256"
    assert login(portal) == 302


def test_ps256_is_refused_because_it_is_not_on_the_allow_list(portal, idp, stripe_api):
    idp.behaviour.id_token_signing_alg_values_supported = ["PS256"]
    idp.behaviour.alg = "PS256"
    assert_refused(portal, stripe_api)


def test_kid_absent_with_several_keys_is_refused(portal, idp, stripe_api):
    idp.behaviour.omit_kid = True
    idp.behaviour.jwks_extra_keys = 2
    assert_refused(portal, stripe_api)


@pytest.mark.parametrize("state", [DROP, "forged-state"])
def test_a_missing_or_different_state_is_refused(portal, idp, stripe_api, state):
    idp.behaviour.state_override = state
    assert_refused(portal, stripe_api)
    assert idp.token_requests == 0


def test_the_portal_sends_a_pkce_verifier_the_provider_checks(portal, idp):
    assert idp.behaviour.require_pkce
    assert login(portal) == 302
    assert idp.authorize_requests[-1]["code_challenge_method"] == "S256"


def test_an_authorization_code_is_used_once(portal, idp, stripe_api):
    start = portal.get("/auth/login")
    back = requests.get(start.headers["Location"], allow_redirects=False, timeout=5)
    location = urlsplit(back.headers["Location"])
    callback = f"{location.path}?{location.query}"
    assert portal.get(callback).status_code == 302
    portal.delete_cookie("portal")
    assert portal.get(callback).status_code == 400
    assert idp.token_requests == 1  # the replay never reached the provider


def _break(idp: BadIdP, change: dict) -> None:
    for name, value in change.items():
        if value is None:
            idp.behaviour.claims_remove.add(name)
        else:
            idp.behaviour.claims_override[name] = value


def test_a_mismatched_discovery_is_not_cached(portal, idp, stripe_api, caplog):
    idp.behaviour.discovery_issuer = "https://evil.example"
    assert login(portal) == 400
    assert "issuer mismatch: discovery says 'https://evil.example'" in caplog.text
    idp.behaviour.discovery_issuer = None
    assert login(portal) == 302


def test_discovery_is_cached_for_its_ttl(portal, idp):
    assert login(portal) == 302
    idp.behaviour.discovery_issuer = "https://changed.example"
    portal.delete_cookie("portal")
    assert login(portal) == 302  # the cached copy still stands


def test_discovery_is_fetched_again_after_its_ttl(portal, idp, monkeypatch):
    assert login(portal) == 302
    monkeypatch.setattr(discovery, "TTL_SECONDS", 0)
    idp.behaviour.discovery_issuer = "https://changed.example"
    portal.delete_cookie("portal")
    assert login(portal) == 400


def test_an_unreachable_jwks_is_a_503_naming_the_fetch(portal, idp, stripe_api, caplog):
    idp.app.view_functions["_jwks"] = lambda: ("down", 502)
    assert login(portal) == 503
    assert "JWKS at " in caplog.text and "answered HTTP 502" in caplog.text
