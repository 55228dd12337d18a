"""After a logout that could not end the provider's session, the next login prompts again.

Google and LINE have no end-session endpoint: logging out of the portal leaves the
customer logged in at the provider, and the next "Log in" on that browser would let
whoever sits there straight back into the previous customer's orders. A cookie set at
such a logout makes the next login ask the provider to prompt (``prompt=login``); a
successful login removes it.
"""

from __future__ import annotations

from flask import current_app, request
from werkzeug.wrappers import Response

#: Long enough to outlast a shared device's idle days; cleared by the next login anyway.
LIFETIME_SECONDS = 30 * 86400


def _name() -> str:
    return "__Host-portal-reauth" if _https() else "portal-reauth"


def _https() -> bool:
    return bool(current_app.extensions["portal.settings"].https)


def wanted() -> bool:
    """Whether this browser's next login must make the provider prompt again."""
    return request.cookies.get(_name()) == "1"


def require(response: Response) -> None:
    """Mark this browser: its next login prompts at the provider."""
    response.set_cookie(
        _name(),
        "1",
        max_age=LIFETIME_SECONDS,
        path="/",
        secure=_https(),
        httponly=True,
        samesite="Lax",
    )


def satisfied(response: Response) -> None:
    """Someone logged in again: the mark has done its job."""
    if wanted():
        response.delete_cookie(_name(), path="/", secure=_https(), httponly=True, samesite="Lax")
