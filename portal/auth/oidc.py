"""OpenID Connect login, with the relying-party checks authlib leaves to the application.

authlib runs the authorization code flow (state, nonce, PKCE S256) and the token call. It
does not, by itself, insist that ``aud`` is ours when ``azp`` is, it trusts whatever
algorithms the provider advertises (even ``none``), and it never looks at
``email_verified``. So every ID token is verified again here, against the configured
issuer, client id and algorithm allow-list, before anyone is logged in.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from requests import RequestException
from werkzeug.wrappers import Response

from portal.settings import Settings

log = logging.getLogger(__name__)

#: Largest clock difference tolerated between the provider and us.
LEEWAY_SECONDS = 30


class LoginRefused(Exception):
    """The login must not go through; ``reason`` picks the page the customer sees."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Identity:
    """Who the provider vouched for: a subject and a verified email."""

    sub: str
    email: str
    id_token: str


class OidcLogin:
    """The shop's OpenID provider, as one authlib client plus our own ID-token checks."""

    def __init__(self, oauth: OAuth, settings: Settings) -> None:
        self._settings = settings
        self._client = oauth.register(
            "idp",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            server_metadata_url=settings.oidc_issuer + "/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
        )

    def start(self, redirect_uri: str) -> tuple[Response, str]:
        """Redirect to the provider; returns the response and the nonce to keep."""
        self._checked_metadata()
        nonce = secrets.token_urlsafe(24)
        response = self._client.authorize_redirect(redirect_uri, nonce=nonce)
        return response, nonce

    def finish(self, nonce: str | None) -> Identity:
        """Complete the callback: exchange the code, verify everything, return who it is.

        Raises :class:`LoginRefused` for anything short of a verified email.
        """
        if not nonce:
            raise LoginRefused("state", "no login in progress in this browser")
        self._checked_metadata()
        try:
            token = self._client.authorize_access_token(
                claims_options=self._claims_options(), leeway=LEEWAY_SECONDS
            )
        except (AuthlibBaseError, JoseError) as exc:
            raise LoginRefused("provider", type(exc).__name__) from exc
        except (RequestException, ValueError, KeyError) as exc:
            raise LoginRefused("provider", type(exc).__name__) from exc
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise LoginRefused("token", "no ID token in the token response")
        claims = self._verified_claims(raw, nonce)
        email, verified = _email_claims(claims)
        if email is None or verified is None:
            userinfo = self._userinfo(token)
            if userinfo.get("sub") != claims["sub"]:
                raise LoginRefused("token", "userinfo sub differs from the ID token's")
            email, verified = _email_claims(userinfo)
        if not email:
            raise LoginRefused("email_missing", "the provider sent no email")
        if verified is not True:
            raise LoginRefused("email_unverified", "email_verified is not true")
        return Identity(sub=claims["sub"], email=email.strip(), id_token=raw)

    def end_session_url(self, id_token: str | None, post_logout_redirect_uri: str) -> str | None:
        """The provider's logout URL when it advertises one, else ``None``."""
        try:
            metadata = self._checked_metadata()
        except LoginRefused:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            return None
        params = {"post_logout_redirect_uri": post_logout_redirect_uri}
        params["client_id"] = self._settings.oidc_client_id
        if id_token:
            params["id_token_hint"] = id_token
        separator = "&" if "?" in endpoint else "?"
        return endpoint + separator + urlencode(params)

    def _checked_metadata(self) -> dict[str, Any]:
        try:
            metadata: dict[str, Any] = self._client.load_server_metadata()
        except (RequestException, ValueError) as exc:
            log.error("OpenID discovery failed for %s: %s", self._settings.oidc_issuer, exc)
            raise LoginRefused("provider_down", "discovery failed") from exc
        if metadata.get("issuer") != self._settings.oidc_issuer:
            log.error(
                "OpenID discovery issuer %r is not PORTAL_OIDC_ISSUER %r",
                metadata.get("issuer"),
                self._settings.oidc_issuer,
            )
            raise LoginRefused("provider", "discovery issuer mismatch")
        # authlib verifies with whatever algorithms discovery advertises (even "none"):
        # it gets our allow-list instead, whatever the provider says.
        metadata["id_token_signing_alg_values_supported"] = list(self._settings.oidc_algorithms)
        return metadata

    def _claims_options(self) -> dict[str, Any]:
        # Passed to authlib too, so its own check is as strict as ours.
        return {
            "iss": {"essential": True, "value": self._settings.oidc_issuer},
            "aud": {"essential": True, "value": self._settings.oidc_client_id},
            "sub": {"essential": True},
        }

    def _verified_claims(self, raw: str, nonce: str) -> dict[str, Any]:
        algorithms = list(self._settings.oidc_algorithms)
        try:
            try:
                token = jwt.decode(raw, self._key_set(force=False), algorithms=algorithms)
            except InvalidKeyIdError:
                # The provider rotated its key: fetch the JWKS once more.
                token = jwt.decode(raw, self._key_set(force=True), algorithms=algorithms)
        except (JoseError, ValueError) as exc:
            raise LoginRefused("token", f"ID token rejected ({type(exc).__name__})") from exc
        except RequestException as exc:
            raise LoginRefused("provider_down", "JWKS could not be fetched") from exc
        check_id_token_claims(
            token.claims,
            issuer=self._settings.oidc_issuer,
            client_id=self._settings.oidc_client_id,
            nonce=nonce,
        )
        return dict(token.claims)

    def _key_set(self, *, force: bool) -> KeySet:
        return KeySet.import_key_set(self._client.fetch_jwk_set(force=force))

    def _userinfo(self, token: dict[str, Any]) -> dict[str, Any]:
        try:
            info = self._client.userinfo(token=token)
        except (AuthlibBaseError, RequestException, ValueError) as exc:
            raise LoginRefused("provider", "userinfo failed") from exc
        return dict(info)


def check_id_token_claims(
    claims: dict[str, Any],
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    now: float | None = None,
) -> None:
    """The OpenID Connect Core 3.1.3.7 checks, with every claim we rely on required."""
    now = time.time() if now is None else now

    def refuse(detail: str) -> LoginRefused:
        return LoginRefused("token", detail)

    if claims.get("iss") != issuer:
        raise refuse("iss is not the configured issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    # Every audience must be ours: aud=[ours, someone else] is a token for someone else too.
    if audiences != [client_id]:
        raise refuse("aud is not exactly our client id")
    if "azp" in claims and claims["azp"] != client_id:
        raise refuse("azp is not our client id")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise refuse("sub missing")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise refuse("exp or iat missing")
    if isinstance(exp, bool) or isinstance(iat, bool):
        raise refuse("exp or iat is not a number")
    if exp < now - LEEWAY_SECONDS:
        raise refuse("expired")
    if iat > now + LEEWAY_SECONDS:
        raise refuse("issued in the future")
    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not secrets.compare_digest(token_nonce, nonce):
        raise refuse("nonce missing or different")


def _email_claims(claims: dict[str, Any]) -> tuple[str | None, Any]:
    email = claims.get("email")
    email = email if isinstance(email, str) and email.strip() else None
    return email, claims.get("email_verified")
