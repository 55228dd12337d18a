"""Settings read once from ``PORTAL_*`` environment variables (and an optional ``.env``).

Everything the portal needs from its environment is validated here, at start-up, so a
deployment with a missing or malformed value stops with one line naming it instead of
failing on the first customer's request. Nothing else in the portal reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from dotenv import dotenv_values

from portal import oidc_setting_values as oidc_values
from portal import setting_values as v
from portal import shop_setting_values as shop_values
from portal.shop import Shop

T = TypeVar("T")


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
    #: ``None`` only with ``private_key_jwt`` (and no HS256 ID tokens, keyed with it).
    oidc_client_secret: str | None = field(repr=False)
    s3_bucket: str
    stripe_api_base: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_algorithms: tuple[str, ...] = ("RS256", "ES256")
    #: What besides ``email_verified`` proves an email is the customer's (see README).
    oidc_email_trust: str = "email_verified"
    #: How the portal authenticates at the token endpoint.
    oidc_token_auth_method: str = "client_secret_basic"  # noqa: S105 (a method's name)
    #: The key ``private_key_jwt`` signs with (``PORTAL_OIDC_PRIVATE_KEY_FILE``).
    oidc_private_key: oidc_values.PrivateKey | None = field(default=None, repr=False)
    #: That key's certificate, for providers that know the key by it (Entra ID: ``x5t``).
    oidc_certificate: x509.Certificate | None = field(default=None, repr=False)
    #: ``aud`` of that assertion: ``token_endpoint`` (OIDC Core 9) or ``issuer`` (Auth0).
    oidc_assertion_audience: str = "token_endpoint"
    #: Clock difference tolerated between the provider and us, in seconds.
    oidc_leeway_seconds: int = 60
    #: The provider's logout URL with ``{client_id}`` and ``{return_url}`` placeholders.
    oidc_logout_url: str | None = None
    #: Longest one login step (start or callback) waits for the provider, all calls together.
    oidc_budget_seconds: int = 10
    s3_endpoint_url: str | None = None
    s3_prefix: str = "orders/{order_id}/"
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
    #: The shop's opt-in to plain (unsigned) OrderIDs: the pattern they match in full.
    unsigned_order_ids: str | None = None
    #: Orders placed at or after this get nothing for an unsigned OrderID.
    unsigned_order_ids_until: datetime | None = None
    #: Keep an order's files downloadable while its payment is disputed.
    disputed_orders_keep_files: bool = False
    #: The ``Strict-Transport-Security`` header sent over https.
    hsts: str = "max-age=31536000"
    #: The page language when neither the switcher's cookie nor the browser chooses one.
    default_locale: str = "ja"
    #: Where the shop's customers are: every date and time is shown in this zone.
    timezone: str = "Asia/Tokyo"
    #: The 領収書's issuer: the shop's name (receipts are off without it), address,
    #: 適格請求書発行事業者登録番号, and whether it has a 法人番号 (for the check digit).
    receipt_issuer_name: str | None = None
    receipt_issuer_address: str | None = None
    receipt_registration_number: str | None = None
    receipt_issuer_kind: str = "corporation"
    #: A blank 宛名 becomes 「上様」 only when the shop allows it.
    receipt_allow_uesama: bool = False
    #: The 但し書き when the buyer types none (default: the product names).
    receipt_purpose: str | None = None
    #: The TrueType font embedded in receipts (found on the system when not set).
    receipt_font: str | None = None
    #: The tax rate of products Stripe has no tax data for, and per-product rates.
    tax_rate: Decimal | None = None
    product_tax_rates: tuple[tuple[str, Decimal], ...] = ()
    #: Longest a page waits for Stripe in all, retries included (then: copy or 503).
    stripe_budget_seconds: int = 4
    #: Stripe calls in flight at once per worker process; more get the copy or the 503.
    stripe_concurrency: int = 4
    #: Stripe calls per second for the whole account (every host), when set; else
    #: 80 for a live key and 20 for a test key (Stripe allows 100 and 25).
    stripe_calls_per_second: int | None = None
    #: Where the gunicorn master serves Prometheus metrics (``None``: nowhere).
    metrics_bind: str | None = "127.0.0.1:9464"

    @property
    def receipts_enabled(self) -> bool:
        """Receipts are issued once the shop has said who issues them."""
        return self.receipt_issuer_name is not None

    #: Name, logo, contact and legal pages shown on every page (``PORTAL_SHOP_*`` and co.).
    shop: Shop = field(default_factory=Shop)
    #: Shop-minted OrderIDs: the part shown as the order number (a ``number`` group).
    order_number_pattern: str | None = None
    #: 「通常 N 時間以内にお届けします」: hours from payment to files, as the shop promises.
    fulfilment_hours: int = 24
    #: Alerts for the shop's staff: an SNS topic and/or a Slack-compatible webhook.
    alert_sns_topic: str | None = None
    alert_webhook_url: str | None = field(default=None, repr=False)
    #: ``portal fulfilment rerun`` without a bus: the shop's fulfilment webhook endpoint,
    #: and its signing secret (the paid event is sent again, signed as Stripe signs it).
    fulfilment_endpoint: str | None = None
    fulfilment_endpoint_secret: str | None = field(default=None, repr=False)
    #: SES sender of the buyer's "files are ready" mail; unset: no mail.
    mail_from: str | None = None

    @property
    def stripe_call_rate(self) -> int:
        """The account's Stripe call budget per second, with headroom under Stripe's limit."""
        if self.stripe_calls_per_second is not None:
            return self.stripe_calls_per_second
        return 80 if "_live_" in self.stripe_secret_key else 20

    @property
    def https(self) -> bool:
        """Whether the portal is served over https (then cookies are ``Secure``)."""
        return self.public_url.startswith("https://")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: ``.env`` overlaid by ``os.environ``)."""
        env = dict(environ) if environ is not None else _process_environment()
        reader = _Reader(env)
        settings = cls(
            secret_key=reader.required("PORTAL_SECRET_KEY", v.secret_key),
            public_url=reader.required("PORTAL_PUBLIC_URL", v.base_url),
            stripe_secret_key=reader.required("PORTAL_STRIPE_SECRET_KEY", v.stripe_key),
            stripe_webhook_secrets=reader.required(
                "PORTAL_STRIPE_WEBHOOK_SECRET", v.webhook_secrets
            ),
            stripe_api_base=reader.optional("PORTAL_STRIPE_API_BASE", v.base_url, None),
            oidc_issuer=reader.required("PORTAL_OIDC_ISSUER", oidc_values.issuer),
            oidc_client_id=reader.required("PORTAL_OIDC_CLIENT_ID", v.non_blank),
            # Required or not depending on the method: see _client_authentication_checked.
            oidc_client_secret=reader.optional("PORTAL_OIDC_CLIENT_SECRET", v.non_blank, None),
            oidc_scopes=reader.optional(
                "PORTAL_OIDC_SCOPES", oidc_values.scopes, "openid email profile"
            ),
            oidc_algorithms=reader.optional(
                "PORTAL_OIDC_ALGORITHMS", oidc_values.algorithms, ("RS256", "ES256")
            ),
            oidc_email_trust=reader.optional(
                "PORTAL_OIDC_EMAIL_TRUST", oidc_values.email_trust, "email_verified"
            ),
            oidc_token_auth_method=reader.optional(
                "PORTAL_OIDC_TOKEN_AUTH_METHOD",
                oidc_values.token_auth_method,
                "client_secret_basic",
            ),
            oidc_private_key=reader.optional(
                "PORTAL_OIDC_PRIVATE_KEY_FILE", oidc_values.private_key_file, None
            ),
            oidc_certificate=reader.optional(
                "PORTAL_OIDC_CERTIFICATE_FILE", oidc_values.certificate_file, None
            ),
            oidc_assertion_audience=reader.optional(
                "PORTAL_OIDC_ASSERTION_AUDIENCE", oidc_values.assertion_audience, "token_endpoint"
            ),
            oidc_leeway_seconds=reader.optional(
                "PORTAL_OIDC_LEEWAY_SECONDS", v.int_between(0, 300), 60
            ),
            oidc_logout_url=reader.optional("PORTAL_OIDC_LOGOUT_URL", oidc_values.logout_url, None),
            oidc_budget_seconds=reader.optional(
                "PORTAL_OIDC_BUDGET_SECONDS", v.int_between(1, 25), 10
            ),
            s3_bucket=reader.required("PORTAL_S3_BUCKET", v.bucket),
            s3_endpoint_url=reader.optional("PORTAL_S3_ENDPOINT_URL", v.base_url, None),
            s3_prefix=reader.optional("PORTAL_S3_PREFIX", v.prefix_template, "orders/{order_id}/"),
            download_ttl_seconds=reader.optional(
                "PORTAL_DOWNLOAD_TTL_SECONDS", v.int_between(1, 3600), 300
            ),
            trusted_proxies=reader.optional("PORTAL_TRUSTED_PROXIES", v.int_between(0, 10), 0),
            session_hours=reader.optional("PORTAL_SESSION_HOURS", v.int_between(1, 12), 12),
            session_idle_minutes=reader.optional(
                "PORTAL_SESSION_IDLE_MINUTES", v.int_between(5, 720), 30
            ),
            cache_url=reader.optional("PORTAL_CACHE_URL", v.cache_url, None),
            cache_ttl_seconds=reader.optional(
                "PORTAL_CACHE_TTL_SECONDS", v.int_between(0, 3600), 60
            ),
            cache_stale_seconds=reader.optional(
                "PORTAL_CACHE_STALE_SECONDS", v.int_between(0, 7 * 86400), 86400
            ),
            eventbridge_bus=reader.optional("PORTAL_EVENTBRIDGE_BUS", v.eventbridge_bus, None),
            order_id_key=reader.optional("PORTAL_ORDER_ID_KEY", v.order_id_key, None),
            payment_links=reader.optional("PORTAL_PAYMENT_LINKS", v.payment_links, ()),
            unsigned_order_ids=reader.optional(
                "PORTAL_UNSIGNED_ORDER_IDS", v.order_id_pattern, None
            ),
            unsigned_order_ids_until=reader.optional(
                "PORTAL_UNSIGNED_ORDER_IDS_UNTIL", v.aware_datetime, None
            ),
            disputed_orders_keep_files=reader.optional(
                "PORTAL_DISPUTED_ORDERS_KEEP_FILES", v.boolean, False
            ),
            hsts=reader.optional("PORTAL_HSTS", v.hsts, "max-age=31536000"),
            default_locale=reader.optional("PORTAL_DEFAULT_LOCALE", v.locale, "ja"),
            timezone=reader.optional("PORTAL_TIMEZONE", v.timezone, "Asia/Tokyo"),
            receipt_issuer_name=reader.optional(
                "PORTAL_RECEIPT_ISSUER_NAME", shop_values.single_line(100), None
            ),
            receipt_issuer_address=reader.optional(
                "PORTAL_RECEIPT_ISSUER_ADDRESS", shop_values.single_line(200), None
            ),
            receipt_registration_number=reader.optional(
                "PORTAL_RECEIPT_REGISTRATION_NUMBER", shop_values.registration_number, None
            ),
            receipt_issuer_kind=reader.optional(
                "PORTAL_RECEIPT_ISSUER_KIND", shop_values.issuer_kind, "corporation"
            ),
            receipt_allow_uesama=reader.optional("PORTAL_RECEIPT_ALLOW_UESAMA", v.boolean, False),
            receipt_purpose=reader.optional(
                "PORTAL_RECEIPT_PURPOSE", shop_values.single_line(60), None
            ),
            receipt_font=reader.optional("PORTAL_RECEIPT_FONT", shop_values.truetype_font, None),
            tax_rate=reader.optional("PORTAL_TAX_RATE", shop_values.tax_rate, None),
            product_tax_rates=reader.optional(
                "PORTAL_TAX_PRODUCT_RATES", shop_values.product_tax_rates, ()
            ),
            shop=_shop(reader),
            order_number_pattern=reader.optional(
                "PORTAL_ORDER_NUMBER_PATTERN", shop_values.order_number_pattern, None
            ),
            stripe_budget_seconds=reader.optional(
                "PORTAL_STRIPE_BUDGET_SECONDS", v.int_between(1, 20), 4
            ),
            stripe_concurrency=reader.optional(
                "PORTAL_STRIPE_CONCURRENCY", v.int_between(1, 64), 4
            ),
            stripe_calls_per_second=reader.optional(
                "PORTAL_STRIPE_CALLS_PER_SECOND", v.int_between(1, 1000), None
            ),
            metrics_bind=reader.optional(
                "PORTAL_METRICS_BIND", v.listen_address, v.listen_address("127.0.0.1:9464")
            ),
            fulfilment_hours=reader.optional("PORTAL_FULFILMENT_HOURS", v.int_between(1, 720), 24),
            alert_sns_topic=reader.optional("PORTAL_ALERT_SNS_TOPIC", v.sns_topic, None),
            alert_webhook_url=reader.optional("PORTAL_ALERT_WEBHOOK_URL", v.base_url, None),
            fulfilment_endpoint=reader.optional("PORTAL_FULFILMENT_ENDPOINT", v.base_url, None),
            fulfilment_endpoint_secret=reader.optional(
                "PORTAL_FULFILMENT_ENDPOINT_SECRET", v.webhook_secret, None
            ),
            mail_from=reader.optional("PORTAL_MAIL_FROM", v.mail_sender, None),
        )
        # The rules between settings live beside this module (it imports this one).
        from portal.settings_rules import checked

        return checked(settings, env)


def _shop(reader: _Reader) -> Shop:
    return Shop(
        name_ja=reader.optional("PORTAL_SHOP_NAME_JA", shop_values.shop_name, None),
        name_en=reader.optional("PORTAL_SHOP_NAME_EN", shop_values.shop_name, None),
        logo=reader.optional("PORTAL_SHOP_LOGO", shop_values.logo_file, None),
        support_email=reader.optional("PORTAL_SUPPORT_EMAIL", shop_values.email, None),
        support_url=reader.optional("PORTAL_SUPPORT_URL", shop_values.page_url, None),
        legal_notice_url=reader.optional("PORTAL_LEGAL_NOTICE_URL", shop_values.page_url, None),
        privacy_url=reader.optional("PORTAL_PRIVACY_URL", shop_values.page_url, None),
    )


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
