"""Login through the shop's OpenID provider, and logout."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext
from flask_login import current_user, login_required, login_user
from flask_wtf.csrf import validate_csrf
from werkzeug.wrappers import Response
from wtforms import ValidationError

from portal import audit, rate_limits
from portal.auth import expiry, reauth
from portal.auth.customer import end_session, start_session
from portal.auth.next_url import safe_next
from portal.auth.oidc import OidcLogin
from portal.auth.pending import PendingLoginCookie, current_logins, new_login
from portal.auth.refusals import LoginRefused
from portal.errors import RETRY_AFTER_SECONDS
from portal.extensions import csrf
from portal.security import origin_of

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

# What the customer reads when a login is refused, and the status it is served with.
_REFUSALS = {
    "email_unverified": (403, lazy_gettext("Your email address is not verified")),
    "email_missing": (403, lazy_gettext("Your account has no email address")),
    "email_unusable": (403, lazy_gettext("This email address cannot be used here")),
    "provider_down": (503, lazy_gettext("The login service is not answering")),
    "state": (400, lazy_gettext("This login link has expired")),
    "provider": (400, lazy_gettext("The login did not complete")),
    "token": (400, lazy_gettext("The login could not be verified")),
    "too_many": (429, lazy_gettext("Too many logins")),
}
#: Seconds after which a refused login may work: the error pages' 30 for a provider
#: outage, a minute for the per-minute login limits.
_RETRY_AFTER = {503: RETRY_AFTER_SECONDS, 429: 60}


def _oidc() -> OidcLogin:
    login: OidcLogin = current_app.extensions["portal.oidc"]
    return login


def _cookie() -> PendingLoginCookie:
    cookie: PendingLoginCookie = current_app.extensions["portal.pending_logins"]
    return cookie


def _callback_url() -> str:
    return str(current_app.config["PORTAL_PUBLIC_URL"]) + url_for("auth.callback")


@bp.get("/auth/login")
def login() -> Response:
    """Send the browser to the provider, remembering (in this browser) where to come back."""
    target = safe_next(request.args.get("next")) or url_for("orders.index")
    if current_user.is_authenticated:
        return redirect(target)
    attempt = new_login(target, reauth=reauth.wanted())
    try:
        url = _oidc().authorization_url(attempt, _callback_url())
    except LoginRefused as refusal:
        return _refused(refusal, target)
    response = redirect(url)
    _cookie().write(response, current_logins().with_login(attempt))
    return response


@bp.route("/auth/callback", methods=["GET", "POST"])
@csrf.exempt  # response_mode=form_post: the provider's page posts here; state is the check
def callback() -> Response:
    """The provider's answer: log in only a verified email, else explain why not.

    A callback whose ``state`` is not a login this browser started is answered at once:
    no call to the provider, not counted by any limit, and the customer's current
    session is left exactly as it was (a cross-site link cannot log anyone out).
    """
    answer = request.form if request.method == "POST" else request.args
    pending, remaining = current_logins().take(answer.get("state"))
    if pending is None:
        return _refused(LoginRefused("state", "no login with this state in this browser"))
    try:
        identity = _oidc().finish(pending, answer, _callback_url())
        if rate_limits.account_over_limit(identity.sub):
            raise LoginRefused("too_many", "too many logins for one account")
    except LoginRefused as refusal:
        response = _refused(refusal, pending.next)
        _cookie().write(response, remaining)
        return response
    customer = start_session(identity, current_app.config["PORTAL_SESSION_HOURS"])
    login_user(customer)
    expiry.remember_resume(pending.next)
    audit.record("login", who=audit.mask_email(identity.email))
    success = redirect(safe_next(pending.next) or url_for("orders.index"))
    _cookie().write(success, remaining)
    reauth.satisfied(success)
    return success


@bp.post("/logout")
@csrf.exempt  # checked below: a token that ended with the login must still log out
def logout() -> Response | tuple[str, int]:
    """End the portal session, then the provider's where it can be ended.

    Logout always logs out: a CSRF token that expired with the session is no reason to
    keep anyone logged in. Only a logout that another site forged (a bad token on a
    cross-site request while logged in) is asked to confirm first. When the provider's
    session cannot be ended (no end-session endpoint and no ``PORTAL_OIDC_LOGOUT_URL``),
    the next login in this browser asks the provider to prompt again, so the next person
    at a shared device is not let straight back in.
    """
    token = request.form.get("csrf_token")  # read first: an oversized body is a 413
    if not _logout_is_genuine(token):
        log.warning("logout not from the portal's pages: asked to confirm")
        return render_template("auth/logout_confirm.html"), 400
    id_token = end_session()
    home = str(current_app.config["PORTAL_PUBLIC_URL"]) + url_for("main.index")
    destination = _oidc().logout_url(id_token, home)
    response = redirect(destination or url_for("main.index"))
    if destination is None:
        reauth.require(response)
    expiry.mark_logged_out(response)
    return response


@bp.get("/auth/resume")
@login_required
def resume() -> str:
    """Finish an action a login was asked for in the middle of (e.g. Manage billing).

    Submits itself only right after that login; opened any other way it shows the
    button, so a link from elsewhere cannot make the action happen.
    """
    endpoint = request.args.get("action", "")
    action = expiry.RESUMABLE.get(endpoint)
    if action is None:
        abort(404)
    auto = expiry.take_resume(endpoint)
    return render_template("auth/resume.html", endpoint=endpoint, action=action, auto=auto)


def _logout_is_genuine(token: str | None) -> bool:
    """Whether this logout came from the portal's own pages, or cannot hurt anyone.

    The same rule as every form (``portal.security``): the ``Origin`` (else the
    ``Referer``) must be the portal's. Unlike other forms, a stale CSRF token from our
    own page still logs out: the token may have ended with the login.
    """
    if not current_user.is_authenticated:
        return True  # the login already ended: there is nothing left to protect
    sent = request.headers.get("Origin")
    if sent is None and request.referrer:
        sent = origin_of(request.referrer) or "unreadable"
    if sent is not None:
        return sent.lower() == current_app.extensions["portal.origin"]
    if current_app.extensions["portal.settings"].https:
        return False  # a browser always sends one of them over https
    try:
        validate_csrf(token)
    except ValidationError:
        return False
    return True


def _refused(refusal: LoginRefused, retry_next: str | None = None) -> Response:
    """The short page for a refused login; the log line says exactly why.

    The current session is left alone: a failed login changes nothing. A provider that
    is down and a login limit both pass: ``Retry-After`` says when to try again.
    """
    log.warning("login refused (%s): %s", refusal.reason, refusal.detail)
    audit.record("login_failed", reason=refusal.reason)
    status, title = _REFUSALS.get(refusal.reason, _REFUSALS["provider"])
    retry = url_for("auth.login", next=safe_next(retry_next)) if retry_next else None
    page = render_template("auth/refused.html", reason=refusal.reason, title=title, retry_url=retry)
    response = current_app.make_response((page, status))
    if status in _RETRY_AFTER:
        response.headers["Retry-After"] = str(_RETRY_AFTER[status])
    return response
