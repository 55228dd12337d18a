"""The portal's own key for ``private_key_jwt``: proving who it is at the token endpoint
with a signed JWT instead of sending a client secret.

The shop keeps one private key (``PORTAL_OIDC_PRIVATE_KEY_FILE``, RSA or EC P-256) and
registers its public half at the provider (``portal oidc-public-jwk`` prints it as a JWK
Set). Each token request carries a fresh assertion (RFC 7523, OpenID Connect Core 9):
``iss`` = ``sub`` = the client id, ``aud`` the token endpoint (or the issuer, for
providers that ask for it), a unique ``jti`` and a one-minute lifetime, signed RS256 or
ES256 by the key's type, with the key's RFC 7638 thumbprint as ``kid`` so a provider
holding several of the shop's keys can pick the right one. Entra ID knows a key only by an
uploaded certificate: with ``PORTAL_OIDC_CERTIFICATE_FILE`` the header also carries the
certificate's thumbprints, ``x5t`` (SHA-1) and ``x5t#S256`` (SHA-256), as it asks.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc.jwk import ECKey, RSAKey

from portal.oidc_setting_values import PrivateKey

#: How long an assertion is valid. Short, because it is a bearer credential until it
#: expires (Auth0 allows five minutes at most and advises one).
ASSERTION_SECONDS = 60


@dataclass(frozen=True)
class ClientKey:
    """The key pair, its signing algorithm and its ``kid``."""

    jwk: RSAKey | ECKey = field(repr=False)
    alg: str
    kid: str
    #: ``x5t`` and ``x5t#S256`` of the key's certificate, when the shop gave one.
    thumbprints: dict[str, str] = field(default_factory=dict)

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set of the public key only, for the provider's client registration."""
        return {"keys": [self.jwk.as_dict(private=False)]}

    def assertion(self, audience: str) -> PrivateKeyJWT:
        """authlib's ``private_key_jwt`` client authentication, to register on the
        ``OAuth2Session`` that makes the token request (authlib signs a new assertion,
        with a new ``jti``, for each request)."""
        headers = {"kid": self.kid, **self.thumbprints}
        return _ShortLivedAssertion(audience, headers=headers, alg=self.alg)


class _ShortLivedAssertion(PrivateKeyJWT):
    """authlib's assertion with ``exp`` one minute after ``iat`` (authlib's own: an hour)."""

    def sign(self, auth: Any, token_endpoint: str) -> str:
        return str(
            private_key_jwt_sign(
                auth.client_secret,
                client_id=auth.client_id,
                token_endpoint=token_endpoint,
                alg=self.alg,
                header=dict(self.headers),
                expires_in=ASSERTION_SECONDS,
            )
        )


def client_key(private_key: PrivateKey, certificate: x509.Certificate | None = None) -> ClientKey:
    """The JOSE form of a validated private key (see ``oidc_setting_values.private_key_file``)
    and, when given, of its certificate's thumbprints."""
    jwk: RSAKey | ECKey
    if isinstance(private_key, rsa.RSAPrivateKey):
        alg, jwk = "RS256", RSAKey.import_key(private_key, {"use": "sig", "alg": "RS256"})
    else:
        alg, jwk = "ES256", ECKey.import_key(private_key, {"use": "sig", "alg": "ES256"})
    # kid = the RFC 7638 thumbprint (of the required public members only).
    jwk.ensure_kid()
    kid = str(jwk.kid)
    thumbprints = {}
    if certificate is not None:
        # SHA-1 only names the certificate here (Entra's x5t), it secures nothing.
        thumbprints = {
            "x5t": _b64url(certificate.fingerprint(hashes.SHA1())),  # noqa: S303
            "x5t#S256": _b64url(certificate.fingerprint(hashes.SHA256())),
        }
    return ClientKey(jwk=jwk, alg=alg, kid=kid, thumbprints=thumbprints)


def _b64url(digest: bytes) -> str:
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def public_jwks_text(private_key: PrivateKey) -> str:
    """The public JWK Set as ``portal oidc-public-jwk`` prints it."""
    return json.dumps(client_key(private_key).public_jwks(), indent=2)
