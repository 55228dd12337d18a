"""Hostile or malformed answers on the login callback: always a short 4xx page, never a
5xx, never a call to the provider unless this browser started the login."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from portal import create_app
from tests.conftest import with_settings
from tests.support.bad_idp import CLIENT_ID, CLIENT_SECRET, BadIdP, run_bad_idp


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


def _state(portal) -> str:  # type: ignore[no-untyped-def]
    return parse_qs(urlsplit(portal.get("/auth/login").headers["Location"]).query)["state"][0]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "state=",
        "code=x&state=" + "s" * 5000,
        "code=x&state=a&state=b",
        "code=%00&state=%ff%fe",
        "error=access_denied",
    ],
)
def test_bogus_callbacks_get_a_400_and_never_reach_the_provider(portal, idp, query):
    response = portal.get(f"/auth/callback?{query}")
    assert response.status_code == 400
    assert idp.token_requests == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"state": "x", "code": "y"}', "application/json"),
        ("state=x&code=y", "text/plain"),
        ("\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
def test_odd_posts_to_the_callback_get_a_400(portal, idp, body, content_type):
    response = portal.post("/auth/callback", data=body, content_type=content_type)
    assert response.status_code == 400
    assert idp.token_requests == 0


def test_a_garbage_login_cookie_is_a_login_that_expired(portal, idp):
    state = _state(portal)
    portal.set_cookie("portal-login", "not-a-fernet-token")
    response = portal.get(f"/auth/callback?code=x&state={state}")
    assert response.status_code == 400
    assert idp.token_requests == 0


def test_a_real_state_without_code_or_error_is_a_clear_refusal(portal, idp):
    response = portal.post("/auth/callback", data={"state": _state(portal)})
    assert response.status_code == 400
    assert "did not complete" in response.get_data(as_text=True)
    assert idp.token_requests == 0


def test_a_state_comes_back_once_only(portal, idp):
    start = portal.get("/auth/login").headers["Location"]
    back = requests.get(start, allow_redirects=False, timeout=5).headers["Location"]
    parts = urlsplit(back)
    assert portal.get(f"{parts.path}?{parts.query}").status_code == 302
    assert portal.get(f"{parts.path}?{parts.query}").status_code == 400
    assert idp.token_requests == 1
