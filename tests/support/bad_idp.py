"""A misbehaving OpenID Connect provider, for the portal's login tests.

oidc-provider-mock behaves well, which proves the happy path and nothing else. The portal's
own ID-token checks (``portal/auth/oidc.py``) exist for the providers that do not: a token
signed with the wrong key or with ``alg: none``, an ``aud`` naming someone else, a missing
``nonce``, a rotated key. This provider speaks real HTTP (discovery, authorize, token,
JWKS, userinfo, end-session), so authlib and the portal run exactly as in production, and
every rule a relying party must enforce has a knob on :class:`Behaviour` that breaks it.
The knobs are named after the OpenID Foundation's RP conformance test cases.

A test starts one with :func:`run_bad_idp`, points the portal's issuer at ``idp.issuer``,
and flips knobs between requests::

    with run_bad_idp() as idp:
        idp.behaviour.claims_override = {"aud": "someone-else"}
        ...  # log in through the portal; expect a refusal

``/authorize`` asks nothing: it logs in ``behaviour.login_sub`` at once and redirects back.
"""

from __future__ import annotations

import base64
import copy
import enum
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

#: The one client the provider knows, unless :func:`run_bad_idp` is told another.
CLIENT_ID = "portal-test"
CLIENT_SECRET = "portal-test-secret"

#: Seconds an ID token and an access token live.
TOKEN_LIFETIME = 300

#: Who can log in unless a test says otherwise; the second has a mixed-case email on purpose.
DEFAULT_USERS: dict[str, dict[str, Any]] = {
    "user-1": {"sub": "user-1", "email": "alice@example.com", "email_verified": True},
    "user-2": {"sub": "user-2", "email": "Bob.Mixed@Example.COM", "email_verified": True},
}

_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


class Drop(enum.Enum):
    """Marker for "leave this parameter out" where ``None`` already means "behave"."""

    DROP = "drop"


#: ``behaviour.state_override = DROP`` omits ``state`` from the redirect back.
DROP = Drop.DROP


@dataclass
class Behaviour:
    """What the provider gets wrong. The defaults make a well-behaved provider.

    Tests mutate it between requests; each request reads it afresh.
    """

    #: Who ``/authorize`` logs in; ``None`` means the first of ``idp.users``.
    login_sub: str | None = None
    #: ``state`` sent back instead of the client's, or :data:`DROP` to send none.
    state_override: str | Drop | None = None
    #: When false, ``/token`` ignores PKCE entirely (a provider that never checks it).
    require_pkce: bool = True
    #: ``issuer`` that discovery claims, when it should differ from the real one.
    discovery_issuer: str | None = None
    #: ``id_token_signing_alg_values_supported`` in discovery, e.g. ``["RS256", "none"]``.
    id_token_signing_alg_values_supported: list[str] = field(default_factory=lambda: ["RS256"])
    #: JWS algorithm of the ID token: ``RS256``/``PS256``… with the published RSA key,
    #: ``ES256``/``ES384``/``ES512`` with an EC key published beside it, ``HS256``… keyed
    #: with the client secret (an algorithm the portal does not allow).
    alg: str = "RS256"
    #: bad-sig-rs256: sign with a key that is not in the JWKS, under the published kid.
    sign_with_wrong_key: bool = False
    #: sig-none: an unsecured token, ``alg: none`` and an empty signature.
    alg_none: bool = False
    #: kid-absent-single-jwks (or -multiple-jwks with ``jwks_extra_keys``): no ``kid``.
    omit_kid: bool = False
    #: Further RSA keys, each with its own kid, published in the JWKS but never used.
    jwks_extra_keys: int = 0
    #: ID-token claims left out, e.g. ``{"nonce"}`` or ``{"email_verified"}``.
    claims_remove: set[str] = field(default_factory=set)
    #: ID-token claims set last, e.g. ``{"iss": "https://evil"}`` or ``{"exp": 0}``.
    claims_override: dict[str, Any] = field(default_factory=dict)
    #: userinfo-bad-sub-claim: ``sub`` that ``/userinfo`` answers with.
    userinfo_sub_override: str | None = None
    #: Userinfo claims left out, e.g. ``{"email"}``.
    userinfo_claims_remove: set[str] = field(default_factory=set)
    #: Userinfo claims set last, e.g. ``{"email_verified": False}``.
    userinfo_claims_override: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Grant:
    """An authorization code and what ``/authorize`` was asked when it was issued."""

    sub: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    used: bool = False


class BadIdP:
    """The provider's state: keys, users, issued codes and tokens, and what it was asked.

    Build it through :func:`run_bad_idp`, which serves :attr:`app` and sets :attr:`issuer`.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        users: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        #: ``http://127.0.0.1:PORT`` once served.
        self.issuer = ""
        self.behaviour = Behaviour()
        #: Users keyed by ``sub``; each value is the claims the provider vouches for.
        self.users: dict[str, dict[str, Any]] = copy.deepcopy(
            DEFAULT_USERS if users is None else users
        )
        #: How often each endpoint was called, so tests can see caching and refetching.
        self.token_requests = 0
        self.userinfo_requests = 0
        self.jwks_requests = 0
        #: Query parameters of every ``/authorize`` and ``/end_session`` call, in order.
        self.authorize_requests: list[dict[str, str]] = []
        self.end_session_requests: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._codes: dict[str, _Grant] = {}
        self._access_tokens: dict[str, str] = {}
        self._kids = (f"key-{n}" for n in itertools.count(1))
        self._signing_key = self._new_rsa_key()
        self._unpublished_key: RSAKey | None = None
        self._ec_keys: dict[str, ECKey] = {}
        self._extra_keys: list[RSAKey] = []
        self.app = self._make_app()

    @property
    def kid(self) -> str:
        """The kid of the current RSA signing key."""
        return str(self._signing_key.kid)

    def rotate_key(self) -> str:
        """Replace the RSA signing key with a new one under a new kid; returns that kid.

        The JWKS serves only the new key from now on, so a relying party holding the old
        JWKS meets an unknown kid and must fetch it again.
        """
        with self._lock:
            self._signing_key = self._new_rsa_key()
        return self.kid

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys as served at ``/jwks``.

        No ``alg`` on the keys: a relying party then finds the key by kid whatever the
        token's header says, and only its algorithm allow-list stands in the way.
        """
        b = self.behaviour
        keys: list[RSAKey | ECKey] = [self._signing_key]
        if b.alg in _EC_CURVES:
            keys.append(self._ec_key(b.alg))
        keys.extend(self._extra_rsa_keys(b.jwks_extra_keys))
        return {"keys": [dict(key.as_dict(private=False), use="sig") for key in keys]}

    def _id_token(self, grant: _Grant) -> str:
        """The ID token for ``grant``, built and signed as :attr:`behaviour` says."""
        b = self.behaviour
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.sub,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "auth_time": grant.auth_time,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update({k: v for k, v in self.users[grant.sub].items() if k != "sub"})
        for name in b.claims_remove:
            claims.pop(name, None)
        claims.update(b.claims_override)
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        b = self.behaviour
        if b.alg_none or b.alg == "none":
            # joserfc refuses to make these (rightly), so the token is put together by hand.
            return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}))}.{_b64(json.dumps(claims))}."
        key: RSAKey | ECKey | OctKey
        if b.alg.startswith("HS"):
            key = OctKey.import_key(self.client_secret)
            kid: str | None = self.kid
        elif b.alg in _EC_CURVES:
            key = self._ec_key(b.alg)
            kid = str(key.kid)
        else:
            key = self._wrong_key() if b.sign_with_wrong_key else self._signing_key
            kid = self.kid
        header: dict[str, Any] = {"alg": b.alg}
        if kid and not b.omit_kid:
            header["kid"] = kid
        return jwt.encode(header, claims, key, algorithms=[b.alg])

    def _new_rsa_key(self) -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"kid": next(self._kids)})

    def _wrong_key(self) -> RSAKey:
        if self._unpublished_key is None:
            self._unpublished_key = RSAKey.generate_key(2048)
        return self._unpublished_key

    def _ec_key(self, alg: str) -> ECKey:
        if alg not in self._ec_keys:
            self._ec_keys[alg] = ECKey.generate_key(
                _EC_CURVES[alg], parameters={"kid": next(self._kids)}
            )
        return self._ec_keys[alg]

    def _extra_rsa_keys(self, count: int) -> list[RSAKey]:
        while len(self._extra_keys) < count:
            self._extra_keys.append(self._new_rsa_key())
        return self._extra_keys[:count]

    def _make_app(self) -> Flask:
        app = Flask(__name__)
        app.add_url_rule("/.well-known/openid-configuration", view_func=self._discovery)
        app.add_url_rule("/authorize", view_func=self._authorize)
        app.add_url_rule("/token", view_func=self._token, methods=["POST"])
        app.add_url_rule("/jwks", view_func=self._jwks)
        app.add_url_rule("/userinfo", view_func=self._userinfo, methods=["GET", "POST"])
        app.add_url_rule("/end_session", view_func=self._end_session)
        return app

    def _discovery(self) -> Response:
        b = self.behaviour
        return jsonify(
            {
                "issuer": b.discovery_issuer or self.issuer,
                "authorization_endpoint": self.issuer + "/authorize",
                "token_endpoint": self.issuer + "/token",
                "userinfo_endpoint": self.issuer + "/userinfo",
                "jwks_uri": self.issuer + "/jwks",
                "end_session_endpoint": self.issuer + "/end_session",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "grant_types_supported": ["authorization_code"],
                "scopes_supported": ["openid", "email"],
                "id_token_signing_alg_values_supported": list(
                    b.id_token_signing_alg_values_supported
                ),
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    def _authorize(self) -> Response | tuple[str, int]:
        args = request.args.to_dict()
        self.authorize_requests.append(args)
        redirect_uri = args.get("redirect_uri")
        # Without a known client and a redirect URI there is nowhere safe to send an error.
        if args.get("client_id") != self.client_id or not redirect_uri:
            return "unknown client_id or no redirect_uri", 400
        b = self.behaviour
        answer: dict[str, str] = {}
        if args.get("response_type") != "code":
            answer["error"] = "unsupported_response_type"
        else:
            sub = b.login_sub or next(iter(self.users))
            if sub not in self.users:
                return f"behaviour.login_sub {sub!r} is not one of idp.users", 400
            code = secrets.token_urlsafe(16)
            with self._lock:
                self._codes[code] = _Grant(
                    sub=sub,
                    client_id=args["client_id"],
                    redirect_uri=redirect_uri,
                    scope=args.get("scope", ""),
                    nonce=args.get("nonce"),
                    code_challenge=args.get("code_challenge"),
                    code_challenge_method=args.get("code_challenge_method"),
                    auth_time=int(time.time()),
                )
            answer["code"] = code
        if isinstance(b.state_override, str):
            answer["state"] = b.state_override
        elif b.state_override is None and "state" in args:
            answer["state"] = args["state"]
        return redirect(_with_query(redirect_uri, answer), 302)

    def _token(self) -> tuple[Response, int]:
        with self._lock:
            self.token_requests += 1
        client_id, refusal = self._authenticated_client()
        if refusal is not None:
            return refusal
        form = request.form
        if form.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "only authorization_code", 400)
        with self._lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is None or grant.used:
                return _oauth_error("invalid_grant", "unknown or already used code", 400)
            # Spent even if the rest fails, as RFC 6749 4.1.2 wants of a code.
            grant.used = True
        if grant.client_id != client_id:
            return _oauth_error("invalid_grant", "code issued to another client", 400)
        if form.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri differs from /authorize", 400)
        if self.behaviour.require_pkce and not _pkce_holds(grant, form.get("code_verifier")):
            return _oauth_error("invalid_grant", "PKCE code_verifier does not match", 400)
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._access_tokens[access_token] = grant.sub
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": self._id_token(grant),
            "scope": grant.scope,
        }
        return _no_store(jsonify(body)), 200

    def _authenticated_client(self) -> tuple[str, None] | tuple[None, tuple[Response, int]]:
        """client_secret_basic or client_secret_post; the client id, or the refusal."""
        auth = request.authorization
        form = request.form
        if auth is not None and auth.type == "basic":
            if "client_secret" in form:
                return None, _oauth_error("invalid_request", "two client auth methods", 400)
            # RFC 6749 2.3.1: both halves are form-urlencoded before base64.
            client_id = unquote_plus(auth.username or "")
            secret = unquote_plus(auth.password or "")
        else:
            client_id = form.get("client_id", "")
            secret = form.get("client_secret", "")
        if client_id != self.client_id or secret != self.client_secret:
            refusal = _oauth_error("invalid_client", "unknown client or wrong secret", 401)
            refusal[0].headers["WWW-Authenticate"] = 'Basic realm="bad-idp"'
            return None, refusal
        return client_id, None

    def _jwks(self) -> Response:
        with self._lock:
            self.jwks_requests += 1
        return jsonify(self.jwks())

    def _userinfo(self) -> Response | tuple[Response, int]:
        with self._lock:
            self.userinfo_requests += 1
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        sub = self._access_tokens.get(token) if scheme.lower() == "bearer" else None
        if sub is None:
            refusal = jsonify({"error": "invalid_token"})
            refusal.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return refusal, 401
        b = self.behaviour
        info = dict(self.users[sub])
        for name in b.userinfo_claims_remove:
            info.pop(name, None)
        if b.userinfo_sub_override is not None:
            info["sub"] = b.userinfo_sub_override
        info.update(b.userinfo_claims_override)
        return jsonify(info)

    def _end_session(self) -> str:
        self.end_session_requests.append(request.args.to_dict())
        return "<!doctype html><title>Signed out</title><p>You are signed out of bad-idp.</p>"


@contextmanager
def run_bad_idp(
    client_id: str = CLIENT_ID,
    client_secret: str = CLIENT_SECRET,
    users: dict[str, dict[str, Any]] | None = None,
) -> Iterator[BadIdP]:
    """Serve a :class:`BadIdP` on a free local port for the length of the ``with`` block."""
    idp = BadIdP(client_id, client_secret, users)
    server = make_server("127.0.0.1", 0, idp.app, threaded=True)
    idp.issuer = f"http://127.0.0.1:{server.server_port}"
    # A short poll keeps shutdown (once per test) from costing the default half second.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, name="bad-idp", daemon=True
    )
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _pkce_holds(grant: _Grant, verifier: str | None) -> bool:
    if not grant.code_challenge or grant.code_challenge_method != "S256" or not verifier:
        return False
    digest = hashlib.sha256(verifier.encode()).digest()
    return secrets.compare_digest(_b64(digest), grant.code_challenge)


def _oauth_error(error: str, description: str, status: int) -> tuple[Response, int]:
    return _no_store(jsonify({"error": error, "error_description": description})), status


def _no_store(response: Response) -> Response:
    # RFC 6749 5.1: token responses must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), *params.items()])
    return urlunsplit(parts._replace(query=query))


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
