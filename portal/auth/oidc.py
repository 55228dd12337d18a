"""OpenID Connect login: the authorization code flow with PKCE, and the checks each real
provider needs.

authlib builds the authorization URL and talks to the token endpoint (with the client
authentication the shop chose). Everything a relying party must check itself is done
here or in the modules beside this one: the discovery document and keys
(``discovery``), the ID token (``id_token``), the claims and the email evidence
(``claims``), the logins in flight (``pending``). Each refusal is a
:class:`~portal.auth.refusals.LoginRefused` whose detail names the exact cause for the
operator's log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

from portal.auth.budget import ProviderBudget, failed_call
from portal.auth.claims import merged, needs_userinfo, verified_email
from portal.auth.client_key import ClientKey, client_key
from portal.auth.discovery import ProviderMetadata
from portal.auth.id_token import TokenRules, verify_id_token
from portal.auth.pending import PendingLogin
from portal.auth.refusals import LoginRefused, shown
from portal.emails import login_problem
from portal.security import origin_of
from portal.settings import Settings

log = logging.getLogger(__name__)

#: ``prompt`` that makes each provider ask who is logging in, after a logout that could
#: not end the provider's session. Google documents no ``prompt=login``; its account
#: chooser is the closest it offers.
_REAUTH_PROMPTS = {"https://accounts.google.com": "select_account"}

#: Authorization-response errors by which a provider says it is down for now.
_UNAVAILABLE_ERRORS = frozenset({"temporarily_unavailable", "server_error"})


@dataclass(frozen=True)
class Identity:
    """Who the provider vouched for: a subject and a verified email."""

    sub: str
    email: str
    id_token: str


#: Discovery endpoints the browser is sent to.
_NAVIGATED = ("authorization_endpoint", "end_session_endpoint")


class OidcLogin:
    """The shop's OpenID provider: login, the checks it needs, and where logout ends."""

    def __init__(self, settings: Settings, http: requests.Session | None = None) -> None:
        self._settings = settings
        self.provider = ProviderMetadata(settings.oidc_issuer, http or requests.Session())
        self._rules = TokenRules(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            algorithms=settings.oidc_algorithms,
            leeway=settings.oidc_leeway_seconds,
        )
        self._client_key: ClientKey | None = None
        method = settings.oidc_token_auth_method
        if method == "private_key_jwt" and settings.oidc_private_key is not None:
            self._client_key = client_key(settings.oidc_private_key, settings.oidc_certificate)

    def authorization_url(self, login: PendingLogin, redirect_uri: str) -> str:
        """Where to send the browser to start ``login``."""
        endpoint = self.provider.document(self._budget())["authorization_endpoint"]
        extra: dict[str, str] = {"nonce": login.nonce}
        if login.reauth:
            extra["prompt"] = _REAUTH_PROMPTS.get(self._settings.oidc_issuer, "login")
        with self._session(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=login.state, code_verifier=login.verifier, **extra
            )
        return str(url)

    def finish(
        self, login: PendingLogin, response: Mapping[str, str], redirect_uri: str
    ) -> Identity:
        """Complete ``login`` from the provider's authorization ``response``.

        Raises :class:`LoginRefused` for anything short of a verified email.
        """
        budget = self._budget()
        metadata = self.provider.document(budget)
        code = self._checked_code(response, metadata)
        token = self._exchange(metadata, code, login, redirect_uri, budget)
        raw = token.get("id_token")
        if not isinstance(raw, str):
            raise LoginRefused("token", "the token response has no id_token")
        claims = verify_id_token(
            raw,
            self._rules,
            lambda unknown: self.provider.keys(budget, unknown_kid=unknown),
            login.nonce,
        )
        trust = self._settings.oidc_email_trust
        userinfo = None
        if needs_userinfo(claims, trust) and metadata.get("userinfo_endpoint"):
            userinfo = self._userinfo(str(metadata["userinfo_endpoint"]), token, budget)
        identity = merged(claims, userinfo)
        email = verified_email(identity, trust)
        problem = login_problem(email)
        if problem:
            # Kept apart, never folded: such an address could pass for a customer's.
            raise LoginRefused("email_unusable", problem)
        return Identity(sub=claims["sub"], email=email, id_token=raw)

    def logout_url(self, id_token: str | None, return_url: str) -> str | None:
        """Where logout continues to end the provider's session, or ``None`` if nowhere.

        ``PORTAL_OIDC_LOGOUT_URL`` when set (Cognito, Auth0's ``/v2/logout``), else the
        advertised ``end_session_endpoint``; ``None`` when neither exists (Google, LINE)
        or discovery cannot be read.
        """
        template = self._settings.oidc_logout_url
        if template:
            return template.format(
                client_id=quote(self._settings.oidc_client_id, safe=""),
                return_url=quote(return_url, safe=""),
            )
        try:
            endpoint = self.provider.document(self._budget()).get("end_session_endpoint")
        except LoginRefused as refusal:
            log.warning("logout: provider logout skipped, %s", refusal.detail)
            return None
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            return None
        params = {
            "post_logout_redirect_uri": return_url,
            "client_id": self._settings.oidc_client_id,
        }
        if id_token:
            params["id_token_hint"] = id_token
        separator = "&" if "?" in endpoint else "?"
        return endpoint + separator + urlencode(params)

    def navigation_origins(self) -> set[str]:
        """The provider's origins a form of ours may lead to (logout, a login asked for
        by a POST after the session expired): the issuer's, the logout URL's, and the
        authorization and end-session endpoints' from the discovery document already
        read. For the pages' ``form-action``."""
        urls = [
            self._settings.oidc_issuer,
            self._settings.oidc_logout_url or "",
            *(str(self.provider.known().get(name) or "") for name in _NAVIGATED),
        ]
        return {origin for url in urls if (origin := origin_of(url))}

    def _budget(self) -> ProviderBudget:
        return ProviderBudget(self._settings.oidc_budget_seconds)

    def _session(self, redirect_uri: str) -> OAuth2Session:
        # With private_key_jwt authlib takes the key where the secret would go.
        credential = self._client_key.jwk if self._client_key else self._settings.oidc_client_secret
        return OAuth2Session(
            client_id=self._settings.oidc_client_id,
            client_secret=credential,
            token_endpoint_auth_method=self._settings.oidc_token_auth_method,
            scope=self._settings.oidc_scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
        )

    def _checked_code(self, response: Mapping[str, str], metadata: dict[str, Any]) -> str:
        """The code, once the response is an answer from our issuer (RFC 9207)."""
        iss = response.get("iss")
        if iss is not None and iss != self._settings.oidc_issuer:
            raise LoginRefused(
                "token",
                f"authorization response iss {shown(iss)} is not PORTAL_OIDC_ISSUER "
                f"{shown(self._settings.oidc_issuer)} (RFC 9207: possible mix-up attack)",
            )
        if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
            raise LoginRefused(
                "token", "authorization response has no iss, though discovery promises one"
            )
        error = response.get("error")
        if error:
            description = response.get("error_description", "")
            raise LoginRefused(
                # RFC 6749 4.1.2.1: the provider's own words for "down for now".
                "provider_down" if error in _UNAVAILABLE_ERRORS else "provider",
                f"provider answered error={shown(error, 60)} "
                f"error_description={shown(description)}",
            )
        code = response.get("code")
        if not code:
            raise LoginRefused("provider", "authorization response has neither code nor error")
        return code

    def _exchange(
        self,
        metadata: dict[str, Any],
        code: str,
        login: PendingLogin,
        redirect_uri: str,
        budget: ProviderBudget,
    ) -> dict[str, Any]:
        endpoint = metadata["token_endpoint"]
        try:
            with self._session(redirect_uri) as client:
                if self._client_key:
                    client.register_client_auth_method(
                        self._client_key.assertion(self._assertion_audience(endpoint))
                    )
                token = client.fetch_token(
                    endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=login.verifier,
                    timeout=budget.timeout("token endpoint"),
                )
        except AuthlibBaseError as exc:
            hint = ""
            if exc.error == "invalid_client":
                hint = f" ({self._client_check_hint()})"
            raise LoginRefused(
                "provider",
                f"token endpoint answered error={shown(exc.error, 60)} "
                f"error_description={shown(exc.description)}{hint}",
            ) from exc
        except requests.RequestException as exc:
            raise failed_call("token endpoint", exc) from exc
        except ValueError as exc:
            raise LoginRefused("provider", "token endpoint answer is not a JSON object") from exc
        return dict(token)

    def _assertion_audience(self, token_endpoint: str) -> str:
        if self._settings.oidc_assertion_audience == "issuer":
            return self._settings.oidc_issuer
        return token_endpoint

    def _client_check_hint(self) -> str:
        """What to check when the token endpoint does not accept the portal as the client."""
        method = self._settings.oidc_token_auth_method
        if self._client_key is None:
            return f"PORTAL_OIDC_TOKEN_AUTH_METHOD={method}: check it and the secret"
        audience = self._settings.oidc_assertion_audience
        return (
            f"PORTAL_OIDC_TOKEN_AUTH_METHOD={method}: check that the provider has the public "
            f"key of PORTAL_OIDC_PRIVATE_KEY_FILE (kid {self._client_key.kid}, "
            f"{self._client_key.alg}; `portal oidc-public-jwk` prints it) and that it takes "
            f"PORTAL_OIDC_ASSERTION_AUDIENCE={audience}"
        )

    def _userinfo(
        self, endpoint: str, token: dict[str, Any], budget: ProviderBudget
    ) -> dict[str, Any]:
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise LoginRefused("token", "no access token to call userinfo with")
        try:
            answer = self.provider.http.get(
                endpoint,
                headers={"Authorization": f"Bearer {access_token}"},
                timeout=budget.timeout("userinfo"),
            )
            answer.raise_for_status()
            info = answer.json()
        except requests.RequestException as exc:
            raise failed_call("userinfo", exc) from exc
        except ValueError as exc:
            # A signed (JWT) userinfo answer is not something we asked for.
            raise LoginRefused("provider", "userinfo answer is not JSON") from exc
        if not isinstance(info, dict):
            raise LoginRefused("provider", "userinfo answer is not a JSON object")
        return info
