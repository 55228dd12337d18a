"""Login through the shop's OpenID provider, and logout."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from portal import audit
from portal.auth.customer import start_session
from portal.auth.next_url import safe_next
from portal.auth.oidc import LoginRefused, OidcLogin

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# What the customer reads when a login is refused, and the status it is served with.
_REFUSALS = {
    "email_unverified": (403, lazy_gettext("Your email address is not verified")),
    "email_missing": (403, lazy_gettext("Your account has no email address")),
    "provider_down": (503, lazy_gettext("The login service is not answering")),
    "state": (400, lazy_gettext("This login link has expired")),
    "provider": (400, lazy_gettext("The login did not complete")),
    "token": (400, lazy_gettext("The login could not be verified")),
}


def _oidc() -> OidcLogin:
    login: OidcLogin = current_app.extensions["portal.oidc"]
    return login


@bp.get("/auth/login")
def login() -> Response | tuple[str, int]:
    """Send the browser to the provider, remembering where to come back to."""
    target = safe_next(request.args.get("next")) or url_for("orders.index")
    if current_user.is_authenticated:
        return redirect(target)
    session["login_next"] = target
    callback = current_app.config["PORTAL_PUBLIC_URL"] + url_for("auth.callback")
    try:
        response, nonce = _oidc().start(callback)
    except LoginRefused as refusal:
        return _refused(refusal)
    session["oidc_nonce"] = nonce
    return response


@bp.get("/auth/callback")
def callback() -> Response | tuple[str, int]:
    """The provider's answer: log in only a verified email, else explain and keep no session."""
    nonce = session.pop("oidc_nonce", None)
    target = safe_next(session.pop("login_next", None)) or url_for("orders.index")
    try:
        identity = _oidc().finish(nonce)
    except LoginRefused as refusal:
        return _refused(refusal)
    customer = start_session(identity, current_app.config["PORTAL_SESSION_HOURS"])
    login_user(customer)
    audit.record("login", who=audit.mask_email(identity.email))
    return redirect(target)


@bp.post("/logout")
def logout() -> Response:
    """End the portal session, then the provider's when it offers an end-session endpoint."""
    id_token = session.get("id_token")
    if current_user.is_authenticated:
        audit.record("logout", who=audit.mask_email(current_user.email))
    logout_user()
    session.clear()
    home = current_app.config["PORTAL_PUBLIC_URL"] + url_for("main.index")
    return redirect(_oidc().end_session_url(id_token, home) or url_for("main.index"))


def _refused(refusal: LoginRefused) -> tuple[str, int]:
    log.warning("login refused: %s", refusal)
    audit.record("login_failed", reason=refusal.reason, detail=refusal.detail)
    logout_user()
    session.clear()
    status, title = _REFUSALS.get(refusal.reason, _REFUSALS["provider"])
    return (
        render_template("auth/refused.html", reason=refusal.reason, title=title),
        status,
    )
