"""The logged-in customer. There is no user table: who they are lives in the session."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import current_app, session
from flask_login import UserMixin, current_user, logout_user

from portal import audit
from portal.auth import expiry
from portal.auth.oidc import Identity

_KEY = "customer"


@dataclass(frozen=True)
class Customer(UserMixin):
    """A customer as vouched for by the provider: subject, verified email, login time."""

    sub: str
    email: str
    logged_in_at: float
    id_token: str | None = None

    def get_id(self) -> str:
        """flask-login's id: the subject, unique at the provider."""
        return self.sub


def start_session(identity: Identity, lifetime_hours: int) -> Customer:
    """Replace whatever the session held by a fresh one for ``identity``.

    Clearing first means nothing from before the login (a planted session, an old
    customer's data) survives into the logged-in session.
    """
    session.clear()  # also drops the CSRF token: a new one is made for the new session
    session.permanent = True
    customer = Customer(sub=identity.sub, email=identity.email, logged_in_at=time.time())
    session[_KEY] = {
        "sub": customer.sub,
        "email": customer.email,
        "at": customer.logged_in_at,
        "seen": customer.logged_in_at,
        "max": lifetime_hours * 3600,
    }
    # Kept apart from the customer data so only logout reads it (for id_token_hint).
    session["id_token"] = identity.id_token
    # A new session id, so an id planted or seen before the login is worth nothing.
    current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
    return customer


def load_customer(user_id: str) -> Customer | None:
    """flask-login's user loader: the session's customer, while the session is in date."""
    data: dict[str, Any] | None = session.get(_KEY)
    if not data or data.get("sub") != user_id:
        return None
    now = time.time()
    idle_minutes = int(current_app.config["PORTAL_SESSION_IDLE_MINUTES"])
    if now - float(data["at"]) > float(data["max"]):
        session.clear()  # the absolute limit, whatever the store's TTL says
        return None
    if now - float(data["seen"]) > idle_minutes * 60:
        session.clear()
        expiry.mark_ended_by_idleness(idle_minutes)
        return None
    data["seen"] = now
    session.modified = True
    return Customer(sub=data["sub"], email=data["email"], logged_in_at=float(data["at"]))


def end_session() -> str | None:
    """Log the customer out of the portal; returns the ID token kept for logout's hint."""
    id_token: str | None = session.get("id_token")
    if current_user.is_authenticated:
        audit.record("logout", who=audit.mask_email(current_user.email))
    logout_user()
    session.clear()
    return id_token
