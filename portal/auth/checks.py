"""``portal check-config --online``, OpenID Connect part: what logging in will do.

Fetches the provider's discovery document and keys with the configured settings and says,
one line each, what will happen and which setting to change for each problem. A ``fail``
line is a problem that stops logins; ``warn`` is worth a look; ``ok`` is fine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from cryptography import x509

from portal.auth.budget import TIMEOUT
from portal.auth.client_key import client_key
from portal.auth.discovery import discovery_url
from portal.oidc_setting_values import TOKEN_AUTH_METHODS, single_tenant_issuer
from portal.settings import Settings

#: (level, line) with level ``ok``, ``warn`` or ``fail``.
Finding = tuple[str, str]


def oidc_findings(settings: Settings, http: requests.Session | None = None) -> list[Finding]:
    """Every check of the login set-up, in the order an operator would fix them."""
    http = http or requests.Session()
    issuer = settings.oidc_issuer
    url = discovery_url(issuer)
    try:
        answer = http.get(url, timeout=TIMEOUT)
        answer.raise_for_status()
        metadata = answer.json()
    except (requests.RequestException, ValueError) as exc:
        return [
            ("fail", f"discovery {url} could not be read ({_why(exc)}): check PORTAL_OIDC_ISSUER")
        ]
    if not isinstance(metadata, dict):
        return [("fail", f"discovery {url} is not a JSON object: check PORTAL_OIDC_ISSUER")]
    findings = [("ok", f"discovery read from {url}"), _issuer(issuer, metadata.get("issuer"))]
    findings += _flow(metadata)
    findings += _algorithms(settings, metadata, http)
    findings += _token_auth(settings, metadata)
    findings.append(_userinfo(settings, metadata))
    findings.append(_logout(settings, metadata))
    findings.append(_email_trust(settings))
    findings.append(
        ("ok", f"clock leeway {settings.oidc_leeway_seconds} s (PORTAL_OIDC_LEEWAY_SECONDS)")
    )
    return findings


def _issuer(configured: str, advertised: object) -> Finding:
    if advertised == configured:
        return ("ok", f"issuer matches exactly: {configured}")
    hint = "set PORTAL_OIDC_ISSUER to exactly the discovery issuer"
    if isinstance(advertised, str) and advertised.rstrip("/") == configured.rstrip("/"):
        hint += " (the trailing '/' differs)"
    return (
        "fail",
        f"issuer mismatch: discovery says {advertised!r}, "
        f"PORTAL_OIDC_ISSUER is {configured!r}: {hint}",
    )


def _flow(metadata: dict[str, Any]) -> list[Finding]:
    findings: list[Finding] = []
    if "code" not in metadata.get("response_types_supported", ["code"]):
        findings.append(("fail", "the provider does not offer the authorization code flow"))
    methods = metadata.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        findings.append(("warn", "PKCE S256 not advertised; the portal sends it anyway"))
    scopes = metadata.get("scopes_supported")
    if isinstance(scopes, list) and "email" not in scopes:
        findings.append(("warn", "scope 'email' not advertised: the provider may send no email"))
    return findings


def _algorithms(
    settings: Settings, metadata: dict[str, Any], http: requests.Session
) -> list[Finding]:
    allowed = set(settings.oidc_algorithms)
    offered = metadata.get("id_token_signing_alg_values_supported") or []
    usable = sorted(allowed & set(offered) - {"HS256"})
    findings: list[Finding] = []
    shown = " ".join(offered) or "(none listed)"
    line = f"ID-token algorithms offered {shown}, allowed {' '.join(sorted(allowed))}"
    if usable:
        findings.append(("ok", line))
    elif "HS256" in allowed:
        findings.append(
            (
                "warn",
                line + ": only HS256 (signed with the client secret, as LINE does) will verify",
            )
        )
    else:
        findings.append(
            ("fail", line + ": no overlap, set PORTAL_OIDC_ALGORITHMS to one the provider offers")
        )
    if not usable:
        return findings
    uri = metadata.get("jwks_uri")
    try:
        answer = http.get(str(uri), timeout=TIMEOUT)
        answer.raise_for_status()
        keys = answer.json().get("keys", [])
        findings.append(("ok", f"JWKS {uri}: {len(keys)} key(s)"))
    except (requests.RequestException, ValueError, AttributeError) as exc:
        findings.append(("fail", f"JWKS {uri} could not be read ({_why(exc)})"))
    return findings


def _token_auth(settings: Settings, metadata: dict[str, Any]) -> list[Finding]:
    method = settings.oidc_token_auth_method
    # OpenID Connect Discovery 1.0: when absent, the default is client_secret_basic.
    supported = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if method not in supported:
        others = [m for m in supported if m in TOKEN_AUTH_METHODS]
        fix = f"set PORTAL_OIDC_TOKEN_AUTH_METHOD={others[0]}" if others else "none the portal has"
        if others and others[0] == "private_key_jwt":
            fix += " and PORTAL_OIDC_PRIVATE_KEY_FILE"
        return [("fail", f"token endpoint does not list {method} ({' '.join(supported)}): {fix}")]
    if method != "private_key_jwt" or settings.oidc_private_key is None:
        return [("ok", f"token endpoint client authentication {method}")]
    key = client_key(settings.oidc_private_key, settings.oidc_certificate)
    audience = settings.oidc_assertion_audience
    findings: list[Finding] = [
        (
            "ok",
            f"token endpoint client authentication private_key_jwt: {key.alg}, kid {key.kid}, "
            f"aud the {audience.replace('_', ' ')} (the provider must hold this public key: "
            "portal oidc-public-jwk)",
        )
    ]
    if settings.oidc_certificate is not None:
        findings.append(_certificate(settings.oidc_certificate, key.thumbprints["x5t#S256"]))
    algorithms = metadata.get("token_endpoint_auth_signing_alg_values_supported")
    if isinstance(algorithms, list) and key.alg not in algorithms:
        findings.append(
            (
                "fail",
                f"token endpoint takes assertions signed {' '.join(map(str, algorithms))}, "
                f"not {key.alg}: give PORTAL_OIDC_PRIVATE_KEY_FILE a key of another type",
            )
        )
    return findings


def _certificate(certificate: x509.Certificate, thumbprint: str) -> Finding:
    until = certificate.not_valid_after_utc
    line = f"certificate x5t#S256 {thumbprint}, valid until {until:%Y-%m-%d}"
    if until <= datetime.now(UTC):
        return ("fail", line + ": expired, the provider refuses it (PORTAL_OIDC_CERTIFICATE_FILE)")
    if until <= datetime.now(UTC) + timedelta(days=30):
        return ("warn", line + ": upload a new one soon (PORTAL_OIDC_CERTIFICATE_FILE)")
    return ("ok", line)


def _userinfo(settings: Settings, metadata: dict[str, Any]) -> Finding:
    if metadata.get("userinfo_endpoint"):
        return ("ok", "userinfo endpoint present (asked only when the ID token lacks the email)")
    return ("ok", "no userinfo endpoint: the email must come in the ID token")


def _logout(settings: Settings, metadata: dict[str, Any]) -> Finding:
    if settings.oidc_logout_url:
        return ("ok", "logout continues to PORTAL_OIDC_LOGOUT_URL")
    if metadata.get("end_session_endpoint"):
        return (
            "ok",
            f"logout continues to end_session_endpoint {metadata['end_session_endpoint']}",
        )
    return (
        "warn",
        "no end_session_endpoint and no PORTAL_OIDC_LOGOUT_URL: logout ends the "
        "portal session only, and the next login asks the provider to prompt again",
    )


def _email_trust(settings: Settings) -> Finding:
    trust = settings.oidc_email_trust
    if trust == "email_verified":
        return ("ok", "emails accepted only with email_verified true (PORTAL_OIDC_EMAIL_TRUST)")
    if trust == "xms_edov" and single_tenant_issuer(settings.oidc_issuer):
        return ("warn", "PORTAL_OIDC_EMAIL_TRUST=xms_edov: Entra domain-verified emails accepted")
    return ("warn", f"PORTAL_OIDC_EMAIL_TRUST={trust}: every email the provider sends is accepted")


def _why(exc: Exception) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__
