"""The OpenID provider failing while a customer logs in, against a real provider process.

panva's oidc-provider runs as a node process: stopped (its port refuses), hung (SIGSTOP:
connections are accepted and never answered), or answering 5xx from one endpoint as a
load balancer in front of a provider does. Each outage is the 503 "not answering" page
with ``Retry-After`` and one log line naming the cause; an OAuth error from the provider
(the provider answered, and said no) stays the 400 page with the provider's error logged.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask

from tests.support.panva import PROFILES, PanvaProvider, PortalRequest, run_provider
from tests.test_providers import Journey, portal_for

#: A short budget keeps the hung-provider tests fast; production's default is 10 s.
BUDGET = 2


@pytest.fixture(scope="module")
def provider() -> Iterator[PanvaProvider]:
    with run_provider(PROFILES["claims-in-userinfo"]) as running:
        yield running


@pytest.fixture
def portal(settings, s3, stripe_api, provider) -> Flask:  # type: ignore[no-untyped-def]
    return portal_for(settings, provider, oidc_budget_seconds=BUDGET)


@pytest.fixture
def journey(portal: Flask, provider: PanvaProvider) -> Iterator[Journey]:
    yield Journey(portal)
    provider.resume()
    provider.outage(None)


def _at_callback(journey: Journey) -> PortalRequest:
    """The customer has signed in at the provider and is on the way back to the portal."""
    return journey.browser.authorize(journey.start("/orders"))


def _assert_not_answering_page(response, caplog, cause: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "30"
    assert "The login service is not answering" in response.get_data(as_text=True)
    refusals = [r.getMessage() for r in caplog.records if "login refused" in r.getMessage()]
    assert refusals and refusals[-1].startswith("login refused (provider_down)"), refusals
    assert cause in refusals[-1], refusals


def test_a_provider_refusing_connections_at_the_callback_is_the_503_page(
    settings, s3, stripe_api, caplog
):
    with run_provider(PROFILES["claims-in-userinfo"]) as doomed:
        journey = Journey(portal_for(settings, doomed))
        back = _at_callback(journey)
        doomed.stop()
        response = journey.back(back)
    _assert_not_answering_page(response, caplog, "token endpoint unreachable (ConnectionError)")


def test_a_hung_token_endpoint_is_the_503_page_within_the_login_budget(journey, provider, caplog):
    back = _at_callback(journey)
    provider.hang()
    started = time.monotonic()
    response = journey.back(back)
    assert time.monotonic() - started < BUDGET + 2  # the budget, not a 10 s read timeout
    _assert_not_answering_page(response, caplog, "token endpoint timed out")


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_token_endpoint_answering_5xx_or_429_is_the_503_page(journey, provider, caplog, status):
    back = _at_callback(journey)
    provider.outage("/token", status)
    response = journey.back(back)
    _assert_not_answering_page(response, caplog, f"token endpoint answered HTTP {status}")


def test_an_oauth_error_from_the_token_endpoint_stays_the_400_page(journey, caplog):
    back = _at_callback(journey)
    parts = urlsplit(back.path)
    query = parse_qs(parts.query)
    query["code"] = [query["code"][0] + "-not-issued"]  # the provider answers invalid_grant
    response = journey.back(PortalRequest("GET", f"{parts.path}?{urlencode(query, doseq=True)}"))
    assert response.status_code == 400
    assert "Retry-After" not in response.headers
    assert "The login did not complete" in response.get_data(as_text=True)
    refusal = [r.getMessage() for r in caplog.records if "login refused" in r.getMessage()][-1]
    assert refusal.startswith(
        "login refused (provider): token endpoint answered error='invalid_grant'"
    )


def test_userinfo_answering_5xx_is_the_503_page(journey, provider, caplog):
    back = _at_callback(journey)
    provider.outage("/me", 503)
    response = journey.back(back)
    _assert_not_answering_page(response, caplog, "userinfo answered HTTP 503")


@pytest.mark.parametrize("error", ["temporarily_unavailable", "server_error"])
def test_the_provider_saying_it_is_unavailable_in_its_answer_is_the_503_page(
    journey, provider, caplog, error
):
    start = urlsplit(journey.start("/orders"))
    state = parse_qs(start.query)["state"][0]
    answer = {"state": state, "error": error, "iss": provider.issuer}
    response = journey.client.get("/auth/callback", query_string=answer)
    _assert_not_answering_page(response, caplog, f"error={error!r}")


def test_discovery_answering_503_at_login_start_is_the_503_page(
    settings, s3, stripe_api, provider, caplog
):
    provider.outage("/.well-known/openid-configuration", 503)
    try:
        response = portal_for(settings, provider).test_client().get("/auth/login")
    finally:
        provider.outage(None)
    _assert_not_answering_page(response, caplog, "HTTP 503")


def test_hung_discovery_at_login_start_is_the_503_page_within_the_budget(
    settings, s3, stripe_api, provider, caplog
):
    client = portal_for(settings, provider, oidc_budget_seconds=BUDGET).test_client()
    provider.hang()
    started = time.monotonic()
    try:
        response = client.get("/auth/login")
    finally:
        provider.resume()
    assert time.monotonic() - started < BUDGET + 2  # the budget, not a 10 s read timeout
    _assert_not_answering_page(response, caplog, "timed out")


def test_once_the_provider_answers_again_the_retry_logs_in(journey, provider, caplog):
    back = _at_callback(journey)
    provider.outage("/token", 502)
    page = journey.back(back).get_data(as_text=True)
    provider.outage(None)
    retry = page.split('href="/auth/login', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = journey.client.get("/auth/login" + retry)
    assert response.status_code == 302
    logged_in = journey.back(journey.browser.authorize(response.headers["Location"], login=None))
    assert logged_in.status_code == 302
    assert logged_in.headers["Location"] == "/orders"


def test_discovery_answering_a_web_page_is_the_400_page_not_an_outage(
    settings, s3, stripe_api, provider, caplog
):
    provider.outage("/.well-known/openid-configuration", 200)  # e.g. an issuer typo'd to a site
    try:
        response = portal_for(settings, provider).test_client().get("/auth/login")
    finally:
        provider.outage(None)
    assert response.status_code == 400
    assert "Retry-After" not in response.headers
    assert "/.well-known/openid-configuration answer is not JSON" in caplog.text
