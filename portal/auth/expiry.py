"""Sessions that never dead-end: what a customer meets after their login has ended.

- A login that ended after the idle limit leaves a small marker in the (otherwise empty)
  session, so the next page can say why a login is asked again ("you were logged out
  after 30 minutes without activity") instead of bouncing silently to the provider.
- A form posted after that (its CSRF token went with the session) does not end on
  "this form has expired": the customer is asked to log in again, and for the actions
  that can be resumed, the portal finishes what was asked once they are back.
- Logout always logs out; the home page then says so.
"""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext
from flask_login import current_user, login_url
from werkzeug.wrappers import Response

from portal.auth.next_url import safe_next

#: POST actions that only need the customer (no form fields but the CSRF token), with the
#: button that finishes them after a login asked for in the middle.
RESUMABLE = {"orders.billing": lazy_gettext("Manage billing and invoices")}

_ENDED = "ended_idle_minutes"
_RESUME = "resume"
_LOGGED_OUT_COOKIE = "portal-logged-out"


def mark_ended_by_idleness(minutes: int) -> None:
    """Remember, in the emptied session, that the login ended for lack of activity."""
    session[_ENDED] = minutes


def ended_by_idleness() -> int | None:
    """The idle limit that ended this browser's last login, if that is why it ended."""
    minutes = session.get(_ENDED)
    return minutes if isinstance(minutes, int) else None


def forget_ending() -> None:
    """A new login (or a logout) makes the old ending old news."""
    session.pop(_ENDED, None)


def login_needed() -> Response:
    """flask-login's answer for a request that needs a login.

    After an idle ending: a page that says so, with "Log in again" back to this page (or,
    for a button such as Manage billing, back to finishing it). Otherwise a page opened
    without a login goes straight to the provider, as before.
    """
    minutes = ended_by_idleness()
    if request.method != "GET":
        return _ended_page(minutes, *_login_then_resume())
    target = _here()
    # flask-login's form of the URL (next percent-encoded), as every login link has it.
    login = login_url("auth.login", next_url=target) if target else url_for("auth.login")
    if minutes is None:
        return redirect(login)
    return _ended_page(minutes, login, None)


def expired_form() -> Response | None:
    """The answer to a form whose CSRF token failed because the login ended, else ``None``.

    A customer still logged in with a bad token gets the usual "form expired" page.
    """
    if current_user.is_authenticated:
        return None
    return _ended_page(ended_by_idleness(), *_login_then_resume())


def _login_then_resume() -> tuple[str, object]:
    """The login URL for a button pressed without a login, and the action it resumes."""
    endpoint = request.endpoint or ""
    action = RESUMABLE.get(endpoint)
    if action is None:
        return url_for("auth.login"), None
    return url_for("auth.login", next=url_for("auth.resume", action=endpoint)), action


def remember_resume(next_path: str) -> None:
    """After a login whose destination resumes an action, allow that one action to run."""
    prefix = url_for("auth.resume") + "?action="
    if next_path.startswith(prefix):
        session[_RESUME] = next_path.removeprefix(prefix)


def take_resume(endpoint: str) -> bool:
    """Whether this session's last login was asked for in the middle of ``endpoint``."""
    return bool(session.pop(_RESUME, None) == endpoint)


def mark_logged_out(response: Response) -> None:
    """Let the home page say 「ログアウトしました」 after the provider sends the browser back."""
    https = bool(current_app.extensions["portal.settings"].https)
    response.set_cookie(
        _LOGGED_OUT_COOKIE, "1", max_age=600, path="/", secure=https, httponly=True, samesite="Lax"
    )


def just_logged_out() -> bool:
    """Whether this browser has just logged out (read by the home page)."""
    return request.cookies.get(_LOGGED_OUT_COOKIE) == "1"


def clear_logged_out(response: Response) -> None:
    """The notice has been shown once."""
    response.delete_cookie(_LOGGED_OUT_COOKIE, path="/")


def _here() -> str | None:
    query = request.query_string.decode("latin-1")
    return safe_next(request.path + (f"?{query}" if query else ""))


def _ended_page(minutes: int | None, login_url: str | None, action: object) -> Response:
    html = render_template(
        "auth/session_ended.html",
        minutes=minutes,
        login_url=login_url or url_for("auth.login"),
        action=action,
    )
    return current_app.make_response((html, 401))
