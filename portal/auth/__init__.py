"""Customers log in through the shop's OpenID Connect provider (see ``oidc``)."""

from __future__ import annotations

import logging

from flask import Flask

from portal.auth.expiry import login_needed
from portal.auth.oidc import OidcLogin
from portal.auth.pending import PendingLoginCookie
from portal.extensions import login_manager
from portal.settings import Settings

log = logging.getLogger(__name__)


def install(app: Flask, settings: Settings) -> None:
    """Bind the provider and the logins-in-flight cookie; warn about relaxed settings."""
    oidc = app.extensions["portal.oidc"] = OidcLogin(settings)
    app.extensions["portal.form_targets"] = oidc.navigation_origins
    app.extensions["portal.pending_logins"] = PendingLoginCookie(
        settings.secret_key, https=settings.https
    )
    login_manager.unauthorized_handler(login_needed)
    for warning in relaxed_settings(settings):
        log.warning("%s", warning)


def relaxed_settings(settings: Settings) -> list[str]:
    """One line per setting that trusts the provider more than the strict default."""
    lines = []
    if settings.oidc_email_trust == "xms_edov":
        lines.append(
            "PORTAL_OIDC_EMAIL_TRUST=xms_edov: emails Entra ID marks domain-owner verified "
            "(xms_edov) are accepted without email_verified"
        )
    elif settings.oidc_email_trust == "provider":
        lines.append(
            "PORTAL_OIDC_EMAIL_TRUST=provider: every email the provider sends is taken as "
            "verified; only right for a provider that releases verified emails alone"
        )
    if "HS256" in settings.oidc_algorithms:
        lines.append(
            "PORTAL_OIDC_ALGORITHMS allows HS256: ID tokens signed with the client secret "
            "are accepted (LINE Login); keep the secret as safe as a signing key"
        )
    return lines
