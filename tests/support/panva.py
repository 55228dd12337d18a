"""panva's ``oidc-provider`` (npm, OpenID Certified) as a real provider process, in the
shapes the providers shops use take.

:data:`PROFILES` names each shape; :func:`run_provider` starts
``tests/support/oidc_provider.mjs`` with one of them on a free loopback port, and
:class:`ProviderBrowser` is the customer's browser at the provider (its cookies, its login
form, its logout confirmation), driven with ``requests``.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "support" / "oidc_provider.mjs"

CLIENT_ID = "portal-client"
#: Long enough to key HS256 (LINE's channel secrets are 32 characters).
CLIENT_SECRET = "portal-client-secret-0123456789ab"


@dataclass(frozen=True)
class Profile:
    """One provider shape: what the provider does, and the portal settings that fit it."""

    name: str
    #: Put the scope's claims (email, email_verified) into the ID token too.
    claims_in_id_token: bool = False
    userinfo: bool = True
    end_session: bool = True
    #: Amazon Cognito's ``/logout?client_id=…&logout_uri=…`` instead of end-session.
    cognito_logout: bool = False
    token_endpoint_auth_method: str = "client_secret_basic"
    id_token_alg: str = "RS256"
    #: ``"/"`` makes the issuer end in a slash, as Auth0's always does.
    issuer_path: str = ""
    clock_offset_seconds: int = 0
    #: The customer's claims: ``both`` everywhere, ``id_token``/``userinfo`` only there.
    user: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"both": {"email": "alice@example.com", "email_verified": True}}
    )
    #: Portal settings this shape needs (``Settings`` field names).
    portal: dict[str, Any] = field(default_factory=dict)
    #: ``private_key_jwt``: the portal's public keys registered with the client (JWK Set).
    client_jwks: dict[str, Any] | None = None


PROFILES = {
    p.name: p
    for p in (
        Profile("claims-in-userinfo"),
        Profile("claims-in-id-token", claims_in_id_token=True, userinfo=True),
        Profile("auth0-issuer-with-slash", claims_in_id_token=True, issuer_path="/"),
        Profile(
            "cognito",
            end_session=False,
            cognito_logout=True,
            user={
                "id_token": {"email": "alice@example.com", "email_verified": True},
                "userinfo": {"email": "alice@example.com", "email_verified": "true"},
            },
        ),
        Profile(
            "line",
            claims_in_id_token=True,
            end_session=False,
            token_endpoint_auth_method="client_secret_post",
            id_token_alg="HS256",
            user={"id_token": {"email": "alice@example.com"}, "userinfo": {"name": "Alice"}},
            portal={
                "oidc_algorithms": ("HS256",),
                "oidc_email_trust": "provider",
                "oidc_token_auth_method": "client_secret_post",
            },
        ),
        Profile(
            "entra",
            claims_in_id_token=True,
            user={"both": {"email": "alice@example.com", "xms_edov": True}},
            portal={"oidc_email_trust": "xms_edov"},
        ),
        Profile("google", claims_in_id_token=True, end_session=False),
        Profile(
            "strict-client-secret-post",
            token_endpoint_auth_method="client_secret_post",
            portal={"oidc_token_auth_method": "client_secret_post"},
        ),
        Profile("no-userinfo", claims_in_id_token=True, userinfo=False),
        Profile("clock-90s-ahead", claims_in_id_token=True, clock_offset_seconds=90),
        # Okta, Keycloak, Auth0: the client proves itself with a JWT signed by its key;
        # the test registers the portal's public keys (``client_jwks``) before starting.
        Profile(
            "private-key-jwt",
            claims_in_id_token=True,
            token_endpoint_auth_method="private_key_jwt",
            portal={"oidc_token_auth_method": "private_key_jwt", "oidc_client_secret": None},
        ),
    )
}


class PanvaProvider:
    """A running provider: its issuer, and the test controls of the process."""

    def __init__(self, issuer: str, profile: Profile, process: subprocess.Popen[str]) -> None:
        self.issuer = issuer
        self.profile = profile
        self._process = process
        self._base = issuer.rstrip("/")

    def set_user(self, sub: str, claims: dict[str, dict[str, Any]]) -> None:
        """Who ``sub`` is: ``{"both": {...}, "id_token": {...}, "userinfo": {...}}``."""
        answer = requests.put(f"{self._base}/__test/users/{sub}", json=claims, timeout=5)
        answer.raise_for_status()

    def rotate_key(self) -> str:
        """A new signing key under a new kid; the JWKS serves only it from now on."""
        answer = requests.post(f"{self._base}/__test/rotate", timeout=10)
        answer.raise_for_status()
        return str(answer.json()["kid"])

    def outage(self, path: str | None, status: int = 502) -> None:
        """``path`` (``/token``, ``/.well-known/openid-configuration``…) answers ``status``
        with a gateway's HTML page from now on; ``None`` ends the outage."""
        body = {"path": path, "status": status}
        answer = requests.post(f"{self._base}/__test/outage", json=body, timeout=5)
        answer.raise_for_status()

    def client_assertions(self) -> list[dict[str, dict[str, Any]]]:
        """Each ``private_key_jwt`` assertion the token endpoint verified: header, claims."""
        answer = requests.get(f"{self._base}/__test/client-assertions", timeout=5)
        answer.raise_for_status()
        return list(answer.json())

    def hang(self) -> None:
        """Stop answering while still accepting connections (SIGSTOP), as a hung host does."""
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Answer again after :meth:`hang`."""
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """End the process: its port refuses connections from now on."""
        self._process.terminate()
        self._process.wait(timeout=10)


@contextmanager
def run_provider(profile: Profile, portal_url: str = "http://localhost") -> Iterator[PanvaProvider]:
    """Start ``oidc_provider.mjs`` as ``profile``; stop it when the block ends."""
    config = {
        "issuer_path": profile.issuer_path,
        "claims_in_id_token": profile.claims_in_id_token,
        "userinfo": profile.userinfo,
        "end_session": profile.end_session,
        "cognito_logout": profile.cognito_logout,
        "strict_client_secret_post": profile.token_endpoint_auth_method == "client_secret_post",
        "clock_offset_seconds": profile.clock_offset_seconds,
        "client": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{portal_url}/auth/callback"],
            "post_logout_redirect_uris": [f"{portal_url}/"],
            "token_endpoint_auth_method": profile.token_endpoint_auth_method,
            "id_token_signed_response_alg": profile.id_token_alg,
            "jwks": profile.client_jwks,
        },
        "users": {"alice": profile.user},
    }
    process = subprocess.Popen(
        ["node", str(SCRIPT), json.dumps(config)],  # noqa: S607 (node from PATH, as npm ci)
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("issuer "):
            raise RuntimeError(f"oidc-provider did not start (run `npm ci`): {line!r}")
        yield PanvaProvider(line.split(" ", 1)[1].strip(), profile, process)
    finally:
        process.send_signal(signal.SIGCONT)  # a hung provider must hear the SIGTERM
        process.terminate()
        process.wait(timeout=10)


@dataclass
class PortalRequest:
    """Where the provider sends the browser back to the portal: a GET, or a form POST."""

    method: str
    path: str
    form: dict[str, str] = field(default_factory=dict)


class ProviderBrowser:
    """The customer's browser while it is at the provider."""

    def __init__(self, portal_url: str = "http://localhost") -> None:
        self.http = requests.Session()
        self._portal = portal_url

    def authorize(self, url: str, login: str | None = "alice") -> PortalRequest:
        """Follow ``url`` through the provider, signing in as ``login`` if it asks.

        ``login=None`` means the test expects no sign-in form (an existing session).
        """
        while True:
            if url.startswith(self._portal):
                parts = urlsplit(url)
                return PortalRequest("GET", f"{parts.path}?{parts.query}")
            answer = self.http.get(url, allow_redirects=False, timeout=10)
            if answer.is_redirect:
                url = urljoin(url, answer.headers["Location"])
                continue
            form = _form(answer.text)
            if form is None:
                raise AssertionError(f"provider page without a form: {answer.text[:300]}")
            action, fields = form
            action = urljoin(url, action)
            if action.startswith(self._portal):  # response_mode=form_post
                return PortalRequest("POST", urlsplit(action).path, fields)
            if login is None:
                raise AssertionError("the provider asked to sign in again")
            signed_in = self.http.post(
                action, data={**fields, "login": login}, allow_redirects=False, timeout=10
            )
            assert signed_in.is_redirect, signed_in.text[:300]
            url = urljoin(action, signed_in.headers["Location"])

    def asked_to_sign_in(self, url: str) -> bool:
        """Whether following ``url`` ends on the provider's sign-in form."""
        while True:
            answer = self.http.get(url, allow_redirects=False, timeout=10)
            if not answer.is_redirect:
                return 'name="login"' in answer.text
            url = urljoin(url, answer.headers["Location"])
            if url.startswith(self._portal):
                return False

    def end_session(self, url: str) -> str:
        """Confirm the provider's logout page; returns where the provider sends us back."""
        answer = self.http.get(url, allow_redirects=False, timeout=10)
        if answer.is_redirect:
            return urljoin(url, answer.headers["Location"])
        form = _form(answer.text)
        assert form is not None, answer.text[:300]
        action, fields = form
        confirm = {**fields, "logout": "yes"}
        done = self.http.post(urljoin(url, action), data=confirm, allow_redirects=False, timeout=10)
        assert done.is_redirect, done.text[:300]
        return urljoin(url, done.headers["Location"])


def _form(html: str) -> tuple[str, dict[str, str]] | None:
    match = re.search(r'<form[^>]*action="([^"]*)"', html)
    if match is None:
        return None
    fields = {
        unescape(name): unescape(value)
        for name, value in re.findall(
            r'<input[^>]*type="hidden"[^>]*name="([^"]*)"[^>]*value="([^"]*)"', html
        )
    }
    return unescape(match.group(1)), fields
