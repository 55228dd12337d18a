"""Parsers for the OpenID provider's settings: issuer, algorithms, email trust, how the
portal authenticates at the token endpoint (its private key and certificate), logout.

As in ``portal.setting_values``: a message says what is wrong, never the value.
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from portal.setting_values import base_url

#: Signing algorithms a shop may allow for ID tokens. ``none`` is absent (no signature),
#: and so is the HMAC family but HS256: LINE Login signs web logins with it, keyed with the
#: channel secret, which the portal accepts only when the shop lists it (see README).
KNOWN_ID_TOKEN_ALGORITHMS = frozenset(
    {
        *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
        *("ES256", "ES384", "ES512", "EdDSA", "HS256"),
    }
)

#: ``PORTAL_OIDC_EMAIL_TRUST``: what the portal accepts as proof that an email is verified.
EMAIL_TRUST = ("email_verified", "xms_edov", "provider")

#: ``PORTAL_OIDC_TOKEN_AUTH_METHOD``: how the portal proves who it is at the token
#: endpoint: the client secret (Basic or in the body), or a JWT signed with its private key.
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")

#: ``PORTAL_OIDC_ASSERTION_AUDIENCE``: the ``aud`` of a ``private_key_jwt`` assertion.
ASSERTION_AUDIENCES = ("token_endpoint", "issuer")

#: The client keys ``private_key_jwt`` signs with: RSA (RS256) or EC P-256 (ES256).
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Largest key file read (a PEM private key is a few KiB at most).
_MAX_KEY_FILE_BYTES = 64 * 1024

#: Entra ID's issuers that stand for many tenants: ``xms_edov`` proves nothing there.
_MULTI_TENANT = re.compile(r"/(common|organizations|consumers)(/|$)|\{tenantid\}", re.I)


def issuer(raw: str) -> str:
    """An issuer exactly as the provider writes it: a trailing ``/`` is part of it."""
    base_url(raw)
    return raw


def single_tenant_issuer(value: str) -> bool:
    return not _MULTI_TENANT.search(value)


def email_trust(raw: str) -> str:
    if raw not in EMAIL_TRUST:
        raise ValueError(f"must be one of {', '.join(EMAIL_TRUST)}")
    return raw


def token_auth_method(raw: str) -> str:
    if raw not in TOKEN_AUTH_METHODS:
        raise ValueError(f"must be one of {', '.join(TOKEN_AUTH_METHODS)}")
    return raw


def assertion_audience(raw: str) -> str:
    if raw not in ASSERTION_AUDIENCES:
        raise ValueError(f"must be one of {', '.join(ASSERTION_AUDIENCES)}")
    return raw


def private_key_file(raw: str) -> PrivateKey:
    """The PEM file of the portal's ``private_key_jwt`` key, loaded; a message never
    quotes the file."""
    try:
        with open(raw, "rb") as file:
            data = file.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError:
        raise ValueError("must be the path of a readable PEM private key file") from None
    if len(data) > _MAX_KEY_FILE_BYTES or b"PRIVATE KEY-----" not in data:
        raise ValueError(
            "is not a PEM private key (-----BEGIN PRIVATE KEY-----; "
            "a public key or certificate will not do)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(
            "is encrypted with a passphrase: give the key unencrypted and protect the file "
            "by its permissions (openssl pkey -in old.pem -out new.pem)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("is not a PEM private key the portal can read") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError(f"is an RSA key of {key.key_size} bits: use 2048 bits or more")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError(
        f"is an unsupported key type ({_key_type(key)}): use RSA (2048 bits or more, "
        "RS256) or EC P-256 (ES256)"
    )


def certificate_file(raw: str) -> x509.Certificate:
    """A PEM X.509 certificate (Entra ID identifies the portal's key by its thumbprint)."""
    try:
        with open(raw, "rb") as file:
            data = file.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError:
        raise ValueError("must be the path of a readable PEM certificate file") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ValueError(
            "is not a PEM certificate (-----BEGIN CERTIFICATE-----), such as "
            "openssl req -new -x509 -key <key file> -subj /CN=portal -days 730 makes"
        ) from None


def same_public_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(der, spki) == key.public_key().public_bytes(
        der, spki
    )


def _key_type(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").removesuffix("PrivateKey") or "unknown"


def logout_url(raw: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(raw) if f is not None}
    if not fields <= {"client_id", "return_url"}:
        raise ValueError("may only use the placeholders {client_id} and {return_url}")
    example = raw.format(client_id="x", return_url="x")
    parts = urlsplit(example)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValueError("must be an absolute http:// or https:// URL without a fragment")
    return raw


def scopes(raw: str) -> str:
    scopes = raw.split()
    if "openid" not in scopes or "email" not in scopes:
        raise ValueError("must include the 'openid' and 'email' scopes")
    return " ".join(scopes)


def algorithms(raw: str) -> tuple[str, ...]:
    algorithms = tuple(raw.replace(",", " ").split())
    unknown = [a for a in algorithms if a not in KNOWN_ID_TOKEN_ALGORITHMS]
    if unknown:
        allowed = ", ".join(sorted(KNOWN_ID_TOKEN_ALGORITHMS))
        raise ValueError(f"unsupported algorithm {unknown[0]!r} (allowed: {allowed})")
    return algorithms
