"""Fixtures that read like the customer's story: a portal, a login, Stripe orders, S3 files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import urlsplit

import boto3
import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from moto import mock_aws
from oidc_provider_mock import run_server_in_thread

from portal import create_app
from portal.settings import Settings
from tests.support.deliveries import BUCKET, ORDER_ID_KEY
from tests.support.stripe_operations import undefined_requests
from tests.support.stripe_stub import StripeStub


@pytest.fixture(scope="session")
def idp_url() -> Iterator[str]:
    """A real OpenID provider (oidc-provider-mock) on a local port."""
    with run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def s3(aws: None):  # type: ignore[no-untyped-def]
    """moto's S3 with the portal's bucket."""
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture
def stripe_api(idp_url: str) -> Iterator[StripeStub]:
    """Stripe's API over HTTP, answered by ``responses``; the IdP passes through.

    Afterwards, every request the portal sent to Stripe is checked against the pinned API
    version (``tests/support/stripe_operations.py``): a parameter or an expand path it
    does not define fails the test, whatever the stub answered.
    """
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # Local servers (the IdP, the test providers) are real; only Stripe is answered here.
        mock.add_passthru(re.compile(r"http://(localhost|127\.0\.0\.1):\d+"))
        yield StripeStub(mock)
        undefined = undefined_requests(mock.calls)
    assert undefined == [], "requests the pinned Stripe API version does not define"


@pytest.fixture
def settings(idp_url: str) -> Settings:
    return Settings(
        secret_key="test-secret-key-that-is-long-enough-1234",
        public_url="http://localhost",
        stripe_secret_key="sk_test_portal1234",
        stripe_webhook_secrets=("whsec_test123",),
        oidc_issuer=idp_url,
        oidc_client_id="portal-client",
        oidc_client_secret="portal-client-secret",
        s3_bucket=BUCKET,
        order_id_key=ORDER_ID_KEY,
        # Tests read English pages; tests/test_i18n.py pins the Japanese default.
        default_locale="en",
    )


@pytest.fixture
def app(settings: Settings, s3: object, stripe_api: StripeStub) -> Flask:
    app = create_app(settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class AuthActions:
    """Logs a customer in the way a browser does: portal → provider form → callback."""

    def __init__(self, client: FlaskClient, idp_url: str) -> None:
        self._client = client
        self.idp_url = idp_url

    def set_user(self, sub: str, **claims: object) -> None:
        response = requests.put(f"{self.idp_url}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def start(self, next_path: str | None = None) -> str:
        """Begin a login; returns the provider's authorization URL."""
        query = {"next": next_path} if next_path else {}
        response = self._client.get("/auth/login", query_string=query)
        assert response.status_code == 302, response.data
        return response.headers["Location"]

    def authorize(self, authorize_url: str, sub: str) -> str:
        """Submit the provider's form as ``sub``; returns the portal callback path + query."""
        answer = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert answer.status_code == 302, answer.text
        location = urlsplit(answer.headers["Location"])
        return f"{location.path}?{location.query}"

    def login(
        self,
        email: str = "alice@example.com",
        *,
        verified: object = True,
        next_path: str | None = None,
    ):  # type: ignore[no-untyped-def]
        """Log in as ``email``; returns the portal's answer to the callback."""
        sub = f"sub-{email.lower()}"
        claims: dict[str, object] = {"email": email}
        if verified is not None:
            claims["email_verified"] = verified
        self.set_user(sub, **claims)
        callback = self.authorize(self.start(next_path), sub)
        return self._client.get(callback)


@pytest.fixture
def auth(client: FlaskClient, idp_url: str) -> AuthActions:
    return AuthActions(client, idp_url)


@pytest.fixture
def logged_in(auth: AuthActions) -> str:
    """A customer logged in as alice@example.com."""
    response = auth.login("alice@example.com")
    assert response.status_code == 302
    return "alice@example.com"


def with_settings(settings: Settings, **changes: object) -> Settings:
    return replace(settings, **changes)  # type: ignore[arg-type]
