"""The provider's discovery document and signing keys, cached for an hour and refreshed.

Providers change: a logout endpoint appears or goes, keys rotate, metadata moves. So the
discovery document and the JWKS are kept for :data:`TTL_SECONDS` and fetched again after
that; an ID token signed with a key we do not know makes the JWKS be fetched again at
once. (ID tokens come only from the token endpoint, in exchange for a code this browser
brought back, so unknown keys cannot be sprayed at us faster than the login limits let
codes through.) A failed fetch, or a discovery document
whose ``issuer`` is not the configured issuer byte for byte, is never cached: the next
login tries again.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from joserfc.jwk import KeySet

from portal.auth.budget import ProviderBudget, failed_call
from portal.auth.refusals import LoginRefused, shown

#: How long discovery and the JWKS are trusted before they are fetched again.
TTL_SECONDS = 3600


def discovery_url(issuer: str) -> str:
    """OpenID Connect Discovery 1.0 section 4: the issuer, one ``/``, the well-known path."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


class ProviderMetadata:
    """Discovery and JWKS for one issuer, shared by every request of the process."""

    def __init__(self, issuer: str, http: requests.Session) -> None:
        self.issuer = issuer
        #: The HTTP session every call to the provider goes through.
        self.http = http
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    def document(self, budget: ProviderBudget) -> dict[str, Any]:
        """The discovery document, checked; raises :class:`LoginRefused` when unusable."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < TTL_SECONDS:
                return self._metadata
        metadata = self._fetch_document(budget)
        with self._lock:
            if metadata.get("jwks_uri") != (self._metadata or {}).get("jwks_uri"):
                self._keys = None
            self._metadata, self._metadata_at = metadata, time.monotonic()
        return metadata

    def known(self) -> dict[str, Any]:
        """The last discovery document read (``{}`` before the first): never fetches, so
        a page's headers can name the provider's endpoints without waiting on it."""
        with self._lock:
            return dict(self._metadata or {})

    def keys(self, budget: ProviderBudget, *, unknown_kid: bool = False) -> KeySet:
        """The provider's public keys; ``unknown_kid`` asks for a fresh copy (rotation)."""
        now = time.monotonic()
        with self._lock:
            fresh = now - self._keys_at < TTL_SECONDS
            if self._keys is not None and fresh and not unknown_kid:
                return self._keys
        uri = self.document(budget).get("jwks_uri")
        if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
            raise LoginRefused("provider", "discovery has no usable jwks_uri")
        try:
            answer = self.http.get(uri, timeout=budget.timeout("JWKS"))
            answer.raise_for_status()
            keys = KeySet.import_key_set(answer.json())
        except requests.RequestException as exc:
            raise failed_call(f"JWKS at {uri}", exc) from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise LoginRefused(
                "provider", f"JWKS at {uri} is not a usable key set ({type(exc).__name__})"
            ) from exc
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    def _fetch_document(self, budget: ProviderBudget) -> dict[str, Any]:
        url = discovery_url(self.issuer)
        try:
            answer = self.http.get(url, timeout=budget.timeout("discovery"))
            answer.raise_for_status()
            metadata = answer.json()
        except requests.RequestException as exc:
            raise failed_call(f"discovery at {url}", exc) from exc
        except ValueError as exc:
            raise LoginRefused("provider", f"discovery at {url} is not JSON") from exc
        if not isinstance(metadata, dict):
            raise LoginRefused("provider", f"discovery at {url} is not a JSON object")
        if metadata.get("issuer") != self.issuer:
            raise LoginRefused(
                "provider",
                f"issuer mismatch: discovery says {shown(metadata.get('issuer'))}, "
                f"PORTAL_OIDC_ISSUER is {shown(self.issuer)} (they must be equal byte for byte)",
            )
        for endpoint in ("authorization_endpoint", "token_endpoint"):
            value = metadata.get(endpoint)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise LoginRefused("provider", f"discovery at {url} has no usable {endpoint}")
        return metadata
