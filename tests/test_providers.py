"""Logging in through panva's oidc-provider, shaped like each provider shops use.

Every profile runs the whole journey through real HTTP: the portal's login, the
provider's sign-in form, the callback, the orders page, and logout back through the
provider (or the specific refusal page). None ever answers 5xx.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from portal import create_app
from tests.conftest import with_settings
from tests.support.panva import (
    CLIENT_ID,
    CLIENT_SECRET,
    PROFILES,
    PanvaProvider,
    PortalRequest,
    ProviderBrowser,
    run_provider,
)

PORTAL = "http://localhost"


class Providers:
    """One provider process per profile, started on first use, all stopped at the end."""

    def __init__(self) -> None:
        self._running: dict[str, PanvaProvider] = {}
        self._stops: list[Iterator[PanvaProvider]] = []

    def __getitem__(self, name: str) -> PanvaProvider:
        if name not in self._running:
            context = run_provider(PROFILES[name])
            self._running[name] = context.__enter__()
            self._stops.append(context)  # type: ignore[arg-type]
        return self._running[name]

    def close(self) -> None:
        for context in self._stops:
            context.__exit__(None, None, None)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def providers() -> Iterator[Providers]:
    running = Providers()
    yield running
    running.close()


class Journey:
    """One customer's browser: the portal (Flask's client) and the provider (requests)."""

    def __init__(self, app: Flask) -> None:
        self.client: FlaskClient = app.test_client()
        self.browser = ProviderBrowser(PORTAL)

    def start(self, next_path: str | None = None) -> str:
        response = self.client.get("/auth/login", query_string={"next": next_path or ""})
        assert response.status_code == 302, response.data
        return response.headers["Location"]

    def back(self, request: PortalRequest) -> TestResponse:
        if request.method == "POST":
            return self.client.post(request.path, data=request.form)
        return self.client.get(request.path)

    def login(self, next_path: str | None = None) -> TestResponse:
        return self.back(self.browser.authorize(self.start(next_path)))

    def logout(self) -> TestResponse:
        page = self.client.get("/orders").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None, page
        return self.client.post("/logout", data={"csrf_token": token.group(1)})


def portal_for(settings, provider: PanvaProvider, **changes: object) -> Flask:  # type: ignore[no-untyped-def]
    portal_settings = with_settings(
        settings,
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        **{"oidc_client_secret": CLIENT_SECRET, **provider.profile.portal, **changes},
    )
    app = create_app(portal_settings)
    app.config["TESTING"] = True
    return app


COGNITO_LOGOUT = "{issuer}logout?client_id={{client_id}}&logout_uri={{return_url}}"


@pytest.mark.parametrize(
    ("profile", "changes"),
    [
        ("claims-in-userinfo", {}),
        ("claims-in-id-token", {}),
        ("auth0-issuer-with-slash", {}),
        ("cognito", {"oidc_logout_url": COGNITO_LOGOUT}),
        ("line", {}),
        ("entra", {}),
        ("google", {}),
        ("strict-client-secret-post", {}),
        ("no-userinfo", {}),
        ("clock-90s-ahead", {"oidc_leeway_seconds": 120}),
    ],
)
def test_each_provider_shape_logs_in_shows_orders_and_logs_out(
    providers, settings, s3, stripe_api, profile, changes
):
    provider = providers[profile]
    if "oidc_logout_url" in changes:
        issuer = provider.issuer.rstrip("/") + "/"
        changes = {"oidc_logout_url": COGNITO_LOGOUT.format(issuer=issuer)}
    assert_whole_journey(Journey(portal_for(settings, provider, **changes)), provider)


def assert_whole_journey(journey: Journey, provider: PanvaProvider) -> None:
    """Log in → the orders page → logout, through the provider when it has a logout."""
    response = journey.login()
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == "/orders"
    orders = journey.client.get("/orders")
    assert orders.status_code == 200
    assert "alice@example.com" in orders.get_data(as_text=True)

    logout = journey.logout()
    assert logout.status_code == 302
    destination = logout.headers["Location"]
    assert journey.client.get("/orders").status_code == 302  # logged out of the portal
    if provider.profile.end_session or provider.profile.cognito_logout:
        assert destination.startswith(provider.issuer.rstrip("/"))
        assert journey.browser.end_session(destination) == f"{PORTAL}/"
    else:
        assert destination == "/"


def test_auth0_style_issuer_keeps_its_slash_and_discovery_has_no_double_slash(
    providers, settings, s3, stripe_api
):
    provider = providers["auth0-issuer-with-slash"]
    assert provider.issuer.endswith("/")
    app = portal_for(settings, provider)
    assert Journey(app).login().status_code == 302


def test_cognito_logout_url_carries_client_id_and_return_url(providers, settings, s3, stripe_api):
    provider = providers["cognito"]
    template = COGNITO_LOGOUT.format(issuer=provider.issuer.rstrip("/") + "/")
    journey = Journey(portal_for(settings, provider, oidc_logout_url=template))
    journey.login()
    location = urlsplit(journey.logout().headers["Location"])
    assert location.path == "/logout"
    assert parse_qs(location.query) == {"client_id": [CLIENT_ID], "logout_uri": [f"{PORTAL}/"]}


def test_entra_xms_edov_without_the_setting_is_refused_as_unverified(
    providers, settings, s3, stripe_api, caplog
):
    provider = providers["entra"]
    journey = Journey(portal_for(settings, provider, oidc_email_trust="email_verified"))
    response = journey.login()
    assert response.status_code == 403
    assert "not verified" in response.get_data(as_text=True)
    assert "PORTAL_OIDC_EMAIL_TRUST=xms_edov" in caplog.text
    assert stripe_api.call_count == 0


def test_line_hs256_is_refused_unless_allowed_and_the_log_names_the_algorithm(
    providers, settings, s3, stripe_api, caplog
):
    provider = providers["line"]
    journey = Journey(portal_for(settings, provider, oidc_algorithms=("RS256",)))
    assert journey.login().status_code == 400
    assert "ID token algorithm 'HS256' is not in PORTAL_OIDC_ALGORITHMS" in caplog.text


def test_line_email_from_the_id_token_survives_a_userinfo_without_email(
    providers, settings, s3, stripe_api
):
    provider = providers["line"]
    journey = Journey(portal_for(settings, provider))
    assert journey.login().status_code == 302
    assert "alice@example.com" in journey.client.get("/orders").get_data(as_text=True)


def test_strict_client_secret_post_refuses_basic_and_the_log_says_invalid_client(
    providers, settings, s3, stripe_api, caplog
):
    provider = providers["strict-client-secret-post"]
    journey = Journey(portal_for(settings, provider, oidc_token_auth_method="client_secret_basic"))
    response = journey.login()
    assert response.status_code == 400
    assert "did not complete" in response.get_data(as_text=True)
    assert "error='invalid_client'" in caplog.text
    assert "PORTAL_OIDC_TOKEN_AUTH_METHOD=client_secret_basic" in caplog.text
    assert CLIENT_SECRET not in caplog.text


def test_a_provider_clock_90s_ahead_is_refused_by_default_and_logged_as_skew(
    providers, settings, s3, stripe_api, caplog
):
    provider = providers["clock-90s-ahead"]
    journey = Journey(portal_for(settings, provider))
    assert journey.login().status_code == 400
    skew = re.search(r"issued (\d+) s in the future", caplog.text)
    assert skew is not None and 85 <= int(skew.group(1)) <= 95
    assert "PORTAL_OIDC_LEEWAY_SECONDS=60" in caplog.text


@pytest.mark.parametrize("profile", ["google", "line"])
def test_after_a_logout_the_provider_cannot_end_the_next_login_prompts_again(
    providers, settings, s3, stripe_api, profile
):
    provider = providers[profile]
    journey = Journey(portal_for(settings, provider))
    journey.login()
    # Still signed in at the provider: a second login goes straight through, no form.
    journey.client.delete_cookie("portal")
    assert not journey.browser.asked_to_sign_in(journey.start())
    journey.login()
    assert journey.logout().headers["Location"] == "/"
    url = journey.start()
    assert parse_qs(urlsplit(url).query)["prompt"] == ["login"]
    assert journey.browser.asked_to_sign_in(url)


def test_after_logging_in_again_the_prompt_is_no_longer_forced(providers, settings, s3, stripe_api):
    journey = Journey(portal_for(settings, providers["google"]))
    journey.login()
    journey.logout()
    assert journey.login().status_code == 302
    journey.client.delete_cookie("portal")
    assert "prompt" not in parse_qs(urlsplit(journey.start()).query)


def test_a_rotated_key_between_two_logins_is_fetched_and_accepted(
    providers, settings, s3, stripe_api
):
    provider = providers["claims-in-id-token"]
    app = portal_for(settings, provider)
    assert Journey(app).login().status_code == 302
    provider.rotate_key()
    assert Journey(app).login().status_code == 302


def test_two_logins_started_in_one_browser_both_succeed(providers, settings, s3, stripe_api):
    journey = Journey(portal_for(settings, providers["claims-in-userinfo"]))
    first = journey.start("/orders?page=1")
    second = journey.start("/orders?page=2")
    other_tab = ProviderBrowser(PORTAL)
    second_back = other_tab.authorize(second)
    first_answer = journey.back(journey.browser.authorize(first))
    assert first_answer.headers["Location"] == "/orders?page=1"
    second_answer = journey.back(second_back)
    assert second_answer.headers["Location"] == "/orders?page=2"


def test_no_userinfo_endpoint_is_not_an_error(providers, settings, s3, stripe_api):
    journey = Journey(portal_for(settings, providers["no-userinfo"]))
    assert journey.login().status_code == 302


def test_a_tampered_iss_in_the_authorization_response_is_refused(
    providers, settings, s3, stripe_api, caplog
):
    journey = Journey(portal_for(settings, providers["claims-in-id-token"]))
    back = journey.browser.authorize(journey.start())
    path, query = back.path.split("?", 1)
    params = {k: v[0] for k, v in parse_qs(query).items()}
    assert params["iss"] == providers["claims-in-id-token"].issuer
    params["iss"] = "https://evil.example"
    response = journey.client.get(f"{path}?{urlencode(params)}")
    assert response.status_code == 400
    assert "mix-up" in caplog.text
    assert journey.client.get("/orders").status_code == 302


def test_response_mode_form_post_is_accepted_on_the_callback(providers, settings, s3, stripe_api):
    journey = Journey(portal_for(settings, providers["claims-in-id-token"]))
    back = journey.browser.authorize(journey.start() + "&response_mode=form_post")
    assert back.method == "POST"
    response = journey.back(back)
    assert response.status_code == 302
    assert journey.client.get("/orders").status_code == 200


def test_refusals_are_logged_at_warning_without_secrets(
    providers, settings, s3, stripe_api, caplog
):
    caplog.set_level(logging.WARNING)
    provider = providers["entra"]
    Journey(portal_for(settings, provider, oidc_email_trust="email_verified")).login()
    for record in caplog.records:
        assert CLIENT_SECRET not in record.getMessage()
        assert "eyJ" not in record.getMessage()  # no token
