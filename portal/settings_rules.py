"""The rules between settings: what one setting requires of another, checked once all
are read (``Settings.from_env`` ends here). Each failure names one setting, as there."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from portal import oidc_setting_values as oidc_values
from portal import shop_setting_values as shop_values
from portal.settings import Settings, SettingsError


def checked(settings: Settings, env: Mapping[str, str]) -> Settings:
    """``settings`` if every rule between them holds (with the receipts font found), else
    the first broken rule as a ``SettingsError`` naming one setting."""
    retired = env.get("PORTAL_REQUIRE_SIGNED_ORDER_IDS", "").strip().lower()
    if retired in ("false", "0", "no"):
        raise SettingsError(
            "PORTAL_REQUIRE_SIGNED_ORDER_IDS",
            "is gone: signed OrderIDs are always required; to keep plain ones working "
            "set PORTAL_UNSIGNED_ORDER_IDS (README: Signed OrderIDs)",
        )
    if settings.order_id_key is None and (
        settings.payment_links or not settings.unsigned_order_ids
    ):
        raise SettingsError(
            "PORTAL_ORDER_ID_KEY",
            "is required: it signs the OrderIDs that files are shown for "
            "(only PORTAL_UNSIGNED_ORDER_IDS without PORTAL_PAYMENT_LINKS can do without)",
        )
    if settings.unsigned_order_ids_until and not settings.unsigned_order_ids:
        raise SettingsError("PORTAL_UNSIGNED_ORDER_IDS_UNTIL", "needs PORTAL_UNSIGNED_ORDER_IDS")
    if settings.unsigned_order_ids and settings.s3_prefix.startswith("{order_id}"):
        raise SettingsError(
            "PORTAL_S3_PREFIX",
            "must begin with a fixed folder (such as orders/{order_id}/) while "
            "PORTAL_UNSIGNED_ORDER_IDS is set, so no OrderID can name another folder",
        )
    _client_authentication_checked(settings)
    if settings.oidc_email_trust == "xms_edov" and not oidc_values.single_tenant_issuer(
        settings.oidc_issuer
    ):
        raise SettingsError(
            "PORTAL_OIDC_EMAIL_TRUST",
            "xms_edov needs a single-tenant PORTAL_OIDC_ISSUER "
            "(https://login.microsoftonline.com/<tenant id>/v2.0)",
        )
    if settings.fulfilment_endpoint and not settings.fulfilment_endpoint_secret:
        raise SettingsError(
            "PORTAL_FULFILMENT_ENDPOINT_SECRET", "is required with PORTAL_FULFILMENT_ENDPOINT"
        )
    if settings.order_id_key is not None and settings.order_id_key == settings.secret_key.encode():
        raise SettingsError("PORTAL_ORDER_ID_KEY", "must differ from PORTAL_SECRET_KEY")
    return _receipts_checked(settings)


def _client_authentication_checked(settings: Settings) -> None:
    """The client secret is required unless ``private_key_jwt`` replaces it; it is still
    required then while HS256 ID tokens, keyed with it, are allowed."""
    method = settings.oidc_token_auth_method
    if method == "private_key_jwt" and settings.oidc_private_key is None:
        raise SettingsError(
            "PORTAL_OIDC_PRIVATE_KEY_FILE",
            "is required with PORTAL_OIDC_TOKEN_AUTH_METHOD=private_key_jwt",
        )
    if settings.oidc_certificate is not None:
        if settings.oidc_private_key is None:
            raise SettingsError(
                "PORTAL_OIDC_CERTIFICATE_FILE", "needs PORTAL_OIDC_PRIVATE_KEY_FILE"
            )
        if not oidc_values.same_public_key(settings.oidc_certificate, settings.oidc_private_key):
            raise SettingsError(
                "PORTAL_OIDC_CERTIFICATE_FILE",
                "is not a certificate of the key in PORTAL_OIDC_PRIVATE_KEY_FILE",
            )
    if settings.oidc_client_secret is None:
        if method != "private_key_jwt":
            raise SettingsError(
                "PORTAL_OIDC_CLIENT_SECRET",
                f"is required but not set (PORTAL_OIDC_TOKEN_AUTH_METHOD={method} "
                "sends it; private_key_jwt needs none)",
            )
        if "HS256" in settings.oidc_algorithms:
            raise SettingsError(
                "PORTAL_OIDC_CLIENT_SECRET",
                "is required while PORTAL_OIDC_ALGORITHMS allows HS256 "
                "(such ID tokens are verified with it)",
            )


def _receipts_checked(settings: Settings) -> Settings:
    """Receipt settings need an issuer; a corporation's number its check digit; and a
    receipt needs a Japanese TrueType font to embed."""
    number = settings.receipt_registration_number
    if number and not settings.receipts_enabled:
        raise SettingsError(
            "PORTAL_RECEIPT_REGISTRATION_NUMBER", "needs PORTAL_RECEIPT_ISSUER_NAME"
        )
    if number and settings.receipt_issuer_kind == "corporation":
        if not shop_values.corporate_check_digit_ok(number):
            raise SettingsError(
                "PORTAL_RECEIPT_REGISTRATION_NUMBER",
                "its check digit does not match: a corporation's number is T + its"
                " 法人番号 (a sole proprietor's: set PORTAL_RECEIPT_ISSUER_KIND=other)",
            )
    if settings.receipts_enabled and settings.receipt_font is None:
        found = next((p for p in shop_values.JAPANESE_FONT_CANDIDATES if Path(p).is_file()), None)
        if found is None:
            raise SettingsError(
                "PORTAL_RECEIPT_FONT",
                "no Japanese TrueType font found for receipts: install"
                " fonts-ipaexfont-gothic or set the path of a .ttf font",
            )
        return replace(settings, receipt_font=shop_values.truetype_font(found))
    return settings
