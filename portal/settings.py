"""Settings read once from ``PORTAL_*`` environment variables (and an optional ``.env``).

Everything the portal needs from its environment is validated here, at start-up, so a
deployment with a missing or malformed value stops with one line naming it instead of
failing on the first customer's request. Nothing else in the portal reads ``os.environ``.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

T = TypeVar("T")

#: Signing algorithms a shop may allow for ID tokens. ``none`` and the HMAC family are
#: deliberately absent: ``none`` is no signature, and HS* would make the client secret a
#: signing key an attacker who learns it could use.
KNOWN_ID_TOKEN_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class SettingsError(ValueError):
    """A setting is missing or malformed; ``str()`` is the one line to show the operator."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class Settings:
    """The portal's validated configuration. Secrets are excluded from ``repr``."""

    secret_key: str = field(repr=False)
    public_url: str
    stripe_secret_key: str = field(repr=False)
    stripe_webhook_secrets: tuple[str, ...] = field(repr=False)
    oidc_issuer: str
    oidc_client_id: str
    oidc_client_secret: str = field(repr=False)
    s3_bucket: str
    stripe_api_base: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256")
    s3_endpoint_url: str | None = None
    s3_prefix: str = "{order_id}/"
    download_ttl_seconds: int = 300
    trusted_proxies: int = 0
    session_hours: int = 12
    session_idle_minutes: int = 30
    cache_url: str | None = field(default=None, repr=False)
    cache_ttl_seconds: int = 60
    cache_stale_seconds: int = 86400
    eventbridge_bus: str | None = None
    order_id_key: bytes | None = field(default=None, repr=False)
    #: Shop's name for a Payment Link -> its URL, for ``/buy/<name>``.
    payment_links: tuple[tuple[str, str], ...] = ()
    require_signed_order_ids: bool = False
    #: The page language when neither the switcher's cookie nor the browser chooses one.
    default_locale: str = "ja"
    #: Where the shop's customers are: every date and time is shown in this zone.
    timezone: str = "Asia/Tokyo"

    @property
    def https(self) -> bool:
        """Whether the portal is served over https (then cookies are ``Secure``)."""
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``.env`` overlaid by ``os.environ``)."""
        env = dict(environ) if environ is not None else _process_environment()
        reader = _Reader(env)
        return cls(
            secret_key=reader.required("PORTAL_SECRET_KEY", _secret_key),
            public_url=reader.required("PORTAL_PUBLIC_URL", _base_url),
            stripe_secret_key=reader.required("PORTAL_STRIPE_SECRET_KEY", _stripe_key),
            stripe_webhook_secrets=reader.required(
                "PORTAL_STRIPE_WEBHOOK_SECRET", _webhook_secrets
            ),
            stripe_api_base=reader.optional("PORTAL_STRIPE_API_BASE", _base_url, None),
            oidc_issuer=reader.required("PORTAL_OIDC_ISSUER", _base_url),
            oidc_client_id=reader.required("PORTAL_OIDC_CLIENT_ID", _non_blank),
            oidc_client_secret=reader.required("PORTAL_OIDC_CLIENT_SECRET", _non_blank),
            oidc_scopes=reader.optional("PORTAL_OIDC_SCOPES", _scopes, "openid email profile"),
            oidc_algorithms=reader.optional(
                "PORTAL_OIDC_ALGORITHMS", _algorithms, ("RS256", "ES256")
            ),
            s3_bucket=reader.required("PORTAL_S3_BUCKET", _bucket),
            s3_endpoint_url=reader.optional("PORTAL_S3_ENDPOINT_URL", _base_url, None),
            s3_prefix=reader.optional("PORTAL_S3_PREFIX", _prefix_template, "{order_id}/"),
            download_ttl_seconds=reader.optional(
                "PORTAL_DOWNLOAD_TTL_SECONDS", _int_between(1, 3600), 300
            ),
            trusted_proxies=reader.optional("PORTAL_TRUSTED_PROXIES", _int_between(0, 10), 0),
            session_hours=reader.optional("PORTAL_SESSION_HOURS", _int_between(1, 12), 12),
            session_idle_minutes=reader.optional(
                "PORTAL_SESSION_IDLE_MINUTES", _int_between(5, 720), 30
            ),
            cache_url=reader.optional("PORTAL_CACHE_URL", _cache_url, None),
            cache_ttl_seconds=reader.optional(
                "PORTAL_CACHE_TTL_SECONDS", _int_between(0, 3600), 60
            ),
            cache_stale_seconds=reader.optional(
                "PORTAL_CACHE_STALE_SECONDS", _int_between(0, 7 * 86400), 86400
            ),
            eventbridge_bus=reader.optional("PORTAL_EVENTBRIDGE_BUS", _eventbridge_bus, None),
            order_id_key=reader.optional("PORTAL_ORDER_ID_KEY", _order_id_key, None),
            payment_links=reader.optional("PORTAL_PAYMENT_LINKS", _payment_links, ()),
            require_signed_order_ids=reader.optional(
                "PORTAL_REQUIRE_SIGNED_ORDER_IDS", _boolean, False
            ),
            default_locale=reader.optional("PORTAL_DEFAULT_LOCALE", _locale, "ja"),
            timezone=reader.optional("PORTAL_TIMEZONE", _timezone, "Asia/Tokyo"),
        )._checked()

    def _checked(self) -> Settings:
        """Rules between settings."""
        needs_key = self.payment_links or self.require_signed_order_ids
        if needs_key and self.order_id_key is None:
            raise SettingsError(
                "PORTAL_ORDER_ID_KEY",
                "is required with PORTAL_PAYMENT_LINKS or PORTAL_REQUIRE_SIGNED_ORDER_IDS",
            )
        if self.order_id_key is not None and self.order_id_key == self.secret_key.encode():
            raise SettingsError("PORTAL_ORDER_ID_KEY", "must differ from PORTAL_SECRET_KEY")
        return self


def _process_environment() -> dict[str, str]:
    """``.env`` in the working directory, if any, with real environment variables winning."""
    env = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    env.update(os.environ)
    return env


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def required(self, name: str, parse: Callable[[str], T]) -> T:
        raw = self._env.get(name, "").strip()
        if not raw:
            raise SettingsError(name, "is required but not set")
        return _parse(name, raw, parse)

    def optional(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self._env.get(name, "").strip()
        return _parse(name, raw, parse) if raw else default


def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
    try:
        return parse(raw)
    except ValueError as exc:
        # The message says what is wrong, never the value: it may be a secret.
        raise SettingsError(name, str(exc)) from None


#: The languages the portal has message catalogs for.
LOCALES = ("ja", "en")


def _locale(raw: str) -> str:
    if raw not in LOCALES:
        raise ValueError(f"must be one of {', '.join(LOCALES)}")
    return raw


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("must be an IANA time zone name such as Asia/Tokyo") from None
    return raw


def _non_blank(raw: str) -> str:
    return raw


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return raw


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return raw.rstrip("/")


def _stripe_key(raw: str) -> str:
    if not re.fullmatch(r"(sk|rk)_(test|live)_[A-Za-z0-9]+", raw):
        raise ValueError("must be a Stripe secret or restricted key (sk_… or rk_…)")
    return raw


def _webhook_secrets(raw: str) -> tuple[str, ...]:
    secrets = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not secrets or not all(re.fullmatch(r"whsec_[A-Za-z0-9+/=_-]+", s) for s in secrets):
        raise ValueError("must be one or more comma-separated Stripe signing secrets (whsec_…)")
    return secrets


def _scopes(raw: str) -> str:
    scopes = raw.split()
    if "openid" not in scopes or "email" not in scopes:
        raise ValueError("must include the 'openid' and 'email' scopes")
    return " ".join(scopes)


def _algorithms(raw: str) -> tuple[str, ...]:
    algorithms = tuple(raw.replace(",", " ").split())
    unknown = [a for a in algorithms if a not in KNOWN_ID_TOKEN_ALGORITHMS]
    if unknown:
        allowed = ", ".join(sorted(KNOWN_ID_TOKEN_ALGORITHMS))
        raise ValueError(f"unsupported algorithm {unknown[0]!r} (allowed: {allowed})")
    return algorithms


def _bucket(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw):
        raise ValueError("must be an S3 bucket name")
    return raw


def _prefix_template(raw: str) -> str:
    fields = [f for _, f, _, _ in string.Formatter().parse(raw) if f is not None]
    if fields != ["order_id"]:
        raise ValueError("must contain {order_id} exactly once and no other {fields}")
    if raw.startswith("/") or ".." in raw:
        raise ValueError("must be a relative key prefix without '..'")
    return raw


def _cache_url(raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if raw == "memory://" or (scheme == "file" and len(raw) > len("file:///")):
        return raw
    if scheme in ("redis", "rediss", "unix") and urlsplit(raw).netloc + urlsplit(raw).path:
        return raw
    raise ValueError("must be redis://host:port/db, rediss://…, file:///dir or memory://")


def _eventbridge_bus(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._/\-]{1,256}|arn:aws[a-z-]*:events:[^\s]+", raw):
        raise ValueError("must be an EventBridge bus name or ARN")
    return raw


def _order_id_key(raw: str) -> bytes:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return raw.encode()


def _payment_links(raw: str) -> tuple[tuple[str, str], ...]:
    links = []
    for pair in raw.replace(",", " ").split():
        name, _, url = pair.partition("=")
        if not re.fullmatch(r"[a-z0-9-]{1,40}", name) or not url:
            raise ValueError("must be name=https://buy.stripe.com/… pairs (names: a-z 0-9 -)")
        links.append((name, _base_url(url)))
    return tuple(links)


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("must be true or false")
    return value in ("true", "1", "yes")


def _int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse
