"""The ID token's signature and claims, checked as OpenID Connect Core 3.1.3.7 asks.

authlib does not, by itself, insist that ``aud`` is ours when ``azp`` is, it trusts
whatever algorithms the provider advertises (even ``none``), and it never looks at
``email_verified``; so every ID token is verified here, against the configured issuer,
client id and algorithm allow-list, before anyone is logged in.

HS256 (LINE Login's web logins) is verified with the client secret, and only when the
shop lists it in ``PORTAL_OIDC_ALGORITHMS``. The portal only ever takes ID tokens from
the token endpoint's answer over TLS, which is what Core 3.1.3.7 requires before an
HMAC-signed token may be trusted; ``none`` is never accepted.
"""

from __future__ import annotations

import json
import secrets
import time
from base64 import urlsafe_b64decode
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, OctKey

from portal.auth.refusals import LoginRefused, shown


@dataclass(frozen=True)
class TokenRules:
    """What an ID token must satisfy, from the settings."""

    issuer: str
    client_id: str
    #: ``None`` with ``private_key_jwt``; settings then forbid HS256.
    client_secret: str | None
    algorithms: tuple[str, ...]
    leeway: int


def verify_id_token(
    raw: str,
    rules: TokenRules,
    keys: Callable[[bool], KeySet],
    nonce: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The token's claims once its signature and every claim check out.

    ``keys(unknown_kid)`` returns the provider's key set, fresh when asked.
    """
    alg = _header(raw).get("alg")
    if alg not in rules.algorithms:
        allowed = " ".join(rules.algorithms)
        raise LoginRefused(
            "token",
            f"ID token algorithm {shown(alg)} is not in PORTAL_OIDC_ALGORITHMS ({allowed})",
        )
    try:
        if alg == "HS256":
            if rules.client_secret is None:
                raise LoginRefused("token", "HS256 ID token, and no client secret to verify it")
            key: KeySet | OctKey = OctKey.import_key(rules.client_secret)
            token = jwt.decode(raw, key, algorithms=[alg])
        else:
            try:
                token = jwt.decode(raw, keys(False), algorithms=[alg])
            except InvalidKeyIdError:
                # The provider rotated its key: fetch the JWKS once more.
                token = jwt.decode(raw, keys(True), algorithms=[alg])
    except InvalidKeyIdError as exc:
        raise LoginRefused("token", "ID token signed with a key not in the JWKS") from exc
    except BadSignatureError as exc:
        raise LoginRefused("token", f"ID token signature ({alg}) does not verify") from exc
    except (JoseError, ValueError) as exc:
        raise LoginRefused("token", f"ID token rejected ({type(exc).__name__})") from exc
    claims = dict(token.claims)
    check_id_token_claims(claims, rules, nonce=nonce, now=now)
    return claims


def check_id_token_claims(
    claims: dict[str, Any], rules: TokenRules, *, nonce: str, now: float | None = None
) -> None:
    """The OpenID Connect Core 3.1.3.7 checks, with every claim we rely on required."""
    now = time.time() if now is None else now

    def refuse(detail: str) -> LoginRefused:
        return LoginRefused("token", detail)

    if claims.get("iss") != rules.issuer:
        raise refuse(
            f"issuer mismatch: ID token iss is {shown(claims.get('iss'))}, "
            f"PORTAL_OIDC_ISSUER is {shown(rules.issuer)}"
        )
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    # Every audience must be ours: aud=[ours, someone else] is a token for someone else too.
    if audiences != [rules.client_id]:
        raise refuse(f"aud {shown(aud)} is not exactly PORTAL_OIDC_CLIENT_ID")
    if "azp" in claims and claims["azp"] != rules.client_id:
        raise refuse(f"azp {shown(claims['azp'])} is not PORTAL_OIDC_CLIENT_ID")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise refuse("sub missing")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise refuse("exp or iat missing or not a number")
    if not _is_time(exp) or not _is_time(iat):
        raise refuse("exp or iat missing or not a number")
    leeway = rules.leeway
    if exp < now - leeway:
        raise refuse(
            f"clock skew: ID token expired {now - exp:.0f} s ago "
            f"(PORTAL_OIDC_LEEWAY_SECONDS={leeway})"
        )
    if iat > now + leeway:
        raise refuse(
            f"clock skew: ID token issued {iat - now:.0f} s in the future, the provider's "
            f"clock is ahead of ours (PORTAL_OIDC_LEEWAY_SECONDS={leeway})"
        )
    nbf = claims.get("nbf")
    if nbf is not None and (not _is_time(nbf) or nbf > now + leeway):
        raise refuse(f"clock skew: ID token not valid before {shown(nbf)} (nbf)")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not secrets.compare_digest(token_nonce, nonce):
        raise refuse("nonce missing or not the one this login sent")


def _is_time(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _header(raw: str) -> dict[str, Any]:
    try:
        segment = raw.split(".", 1)[0]
        header = json.loads(urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LoginRefused("token", "ID token is not a JWT") from exc
    if not isinstance(header, dict):
        raise LoginRefused("token", "ID token header is not a JSON object")
    return header
