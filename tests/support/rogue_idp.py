"""An OpenID provider for tests that can be told to misbehave, one rule at a time.

Real HTTP on a local port, real signatures (joserfc): the portal's login runs against it
exactly as against a real provider, so each refusal is tested end to end.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from portal.devstack.serving import run_in_thread

CLIENT_ID = "portal-client"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Behaviour:
    """How the provider breaks the rules; tests set fields before the login."""

    advertised_algorithms: list[str] = field(default_factory=lambda: ["RS256"])
    discovery_issuer: str | None = None
    alg_none: bool = False
    sign_with_wrong_key: bool = False
    omit_kid: bool = False
    claims_override: dict[str, Any] = field(default_factory=dict)
    claims_remove: set[str] = field(default_factory=set)
    userinfo_override: dict[str, Any] = field(default_factory=dict)
    #: Claims for the login user, in the ID token (email ones may be left out).
    user: dict[str, Any] = field(
        default_factory=lambda: {
            "sub": "rogue-1",
            "email": "alice@example.com",
            "email_verified": True,
        }
    )


class RogueIdP:
    """The provider's state: keys, issued codes, and what it was asked."""

    def __init__(self) -> None:
        self.issuer = ""
        self.behaviour = Behaviour()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "key-1"})
        self.codes: dict[str, dict[str, Any]] = {}
        self.token_requests = 0
        self.userinfo_requests = 0
        self.jwks_requests = 0

    def rotate_key(self) -> None:
        """Sign with a new key under a new kid; the JWKS serves only the new one."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": f"key-{secrets.token_hex(4)}"})

    def id_token(self, nonce: str | None) -> str:
        b = self.behaviour
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **b.user,
        }
        claims.update(b.claims_override)
        for name in b.claims_remove:
            claims.pop(name, None)
        if b.alg_none:
            header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
            return f"{header}.{_b64(json.dumps(claims).encode())}."
        key = self.key
        if b.sign_with_wrong_key:
            key = RSAKey.generate_key(2048, parameters={"kid": self.key.kid})
        header = {"alg": "RS256"} if b.omit_kid else {"alg": "RS256", "kid": self.key.kid}
        return jwt.encode(header, claims, key)

    def app(self) -> Flask:
        app = Flask("rogue_idp")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=self.behaviour.discovery_issuer or self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                userinfo_endpoint=f"{self.issuer}/userinfo",
                jwks_uri=f"{self.issuer}/jwks",
                end_session_endpoint=f"{self.issuer}/logout",
                id_token_signing_alg_values_supported=self.behaviour.advertised_algorithms,
                code_challenge_methods_supported=["S256"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            self.jwks_requests += 1
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/authorize")
        def authorize() -> Any:
            code = secrets.token_urlsafe(16)
            self.codes[code] = dict(request.args)
            query = urlencode({"code": code, "state": request.args.get("state", "")})
            return redirect(f"{request.args['redirect_uri']}?{query}")

        @app.post("/token")
        def token() -> Any:
            self.token_requests += 1
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None:
                return jsonify(error="invalid_grant"), 400
            return jsonify(
                access_token=secrets.token_urlsafe(16),
                token_type="Bearer",
                expires_in=300,
                id_token=self.id_token(grant.get("nonce")),
            )

        @app.get("/userinfo")
        def userinfo() -> Any:
            self.userinfo_requests += 1
            return jsonify({**self.behaviour.user, **self.behaviour.userinfo_override})

        return app


@contextmanager
def rogue_idp() -> Iterator[RogueIdP]:
    """A rogue provider on a free local port."""
    provider = RogueIdP()
    with run_in_thread(provider.app()) as server:
        provider.issuer = server.url
        yield provider
