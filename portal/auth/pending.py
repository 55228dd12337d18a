"""Logins in flight, kept in the browser (an encrypted cookie), never in the session store.

A login's ``state``, ``nonce``, PKCE verifier and destination must survive the trip to the
provider. Keeping them in a cookie of their own means:

- several logins can be in flight at once (two tabs, a double click): each has its own
  entry, up to :data:`MAX_IN_FLIGHT`, each valid for :data:`LIFETIME_SECONDS`;
- an anonymous visitor who starts a login writes nothing on the server, so a flood of
  ``/auth/login`` requests can never evict logged-in customers' sessions;
- a callback whose ``state`` is not in this browser's cookie is recognised without a
  store round trip and without touching the customer's session;
- ``response_mode=form_post`` works: over https the cookie is ``SameSite=None``, so the
  provider's cross-site POST still carries it (it authenticates nobody; it only holds
  what this browser's own login needs).

The cookie is encrypted and authenticated (Fernet, keyed from ``PORTAL_SECRET_KEY``) and
also carries a random browser id, which login rate limits are keyed by.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, replace

from cryptography.fernet import Fernet, InvalidToken
from flask import Request, current_app, g, request
from werkzeug.wrappers import Response

#: Logins one browser may have in flight; starting another forgets the oldest.
MAX_IN_FLIGHT = 4
#: How long a started login may take at the provider.
LIFETIME_SECONDS = 600
#: Destinations longer than this are not kept (the cookie must stay under 4 kB).
MAX_NEXT_LENGTH = 512


@dataclass(frozen=True)
class PendingLogin:
    """One login started in this browser and not yet come back."""

    state: str
    nonce: str
    verifier: str
    next: str
    started: float
    #: The login asked the provider to prompt again (after a local-only logout).
    reauth: bool = False


@dataclass(frozen=True)
class LoginsInFlight:
    """What this browser's cookie holds: its id and its logins in flight."""

    browser: str
    logins: tuple[PendingLogin, ...] = ()

    def with_login(self, login: PendingLogin) -> LoginsInFlight:
        """These logins plus ``login``, the oldest dropped past :data:`MAX_IN_FLIGHT`."""
        kept = (*self.logins, login)[-MAX_IN_FLIGHT:]
        return replace(self, logins=kept)

    def take(self, state: str | None) -> tuple[PendingLogin | None, LoginsInFlight]:
        """The login ``state`` belongs to (each can come back once), and what remains."""
        if not state:
            return None, self
        for login in self.logins:
            if secrets.compare_digest(login.state, state):
                rest = tuple(other for other in self.logins if other is not login)
                return login, replace(self, logins=rest)
        return None, self


class PendingLoginCookie:
    """Reads and writes :class:`LoginsInFlight` as one encrypted cookie."""

    def __init__(self, secret_key: str, *, https: bool) -> None:
        digest = hashlib.sha256(b"order-portal pending logins\0" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))
        self._https = https
        # __Host- cookies are accepted only over https, for this host and path /.
        self.name = "__Host-portal-login" if https else "portal-login"

    def read(self, request: Request) -> LoginsInFlight:
        """This browser's logins in flight, the expired ones left out."""
        raw = request.cookies.get(self.name)
        if raw:
            try:
                data = json.loads(self._fernet.decrypt(raw.encode(), ttl=LIFETIME_SECONDS))
                return _from_json(data)
            except (InvalidToken, ValueError, TypeError, KeyError):
                pass  # tampered, from an old key, or expired: start afresh
        return LoginsInFlight(browser=secrets.token_urlsafe(12))

    def write(self, response: Response, logins: LoginsInFlight) -> None:
        """Store ``logins`` in ``response``'s cookie, or delete it when none are left."""
        if not logins.logins:
            response.delete_cookie(
                self.name, path="/", secure=self._https, httponly=True, samesite=self._samesite
            )
            return
        token = self._fernet.encrypt(json.dumps(_to_json(logins)).encode()).decode()
        response.set_cookie(
            self.name,
            token,
            max_age=LIFETIME_SECONDS,
            path="/",
            secure=self._https,
            httponly=True,
            samesite=self._samesite,
        )

    @property
    def _samesite(self) -> str:
        # Browsers drop SameSite=None cookies that are not Secure: over plain http (a
        # development set-up) Lax is the best there is, and form_post needs https.
        return "None" if self._https else "Lax"


def current_logins() -> LoginsInFlight:
    """This request's logins in flight, read from the cookie once per request."""
    if "logins_in_flight" not in g:
        cookie: PendingLoginCookie = current_app.extensions["portal.pending_logins"]
        g.logins_in_flight = cookie.read(request)
    logins: LoginsInFlight = g.logins_in_flight
    return logins


def new_login(next_path: str, *, reauth: bool) -> PendingLogin:
    """A fresh login with its own state, nonce and PKCE verifier."""
    if len(next_path) > MAX_NEXT_LENGTH:
        next_path = "/"
    return PendingLogin(
        state=secrets.token_urlsafe(24),
        nonce=secrets.token_urlsafe(24),
        verifier=secrets.token_urlsafe(48),
        next=next_path,
        started=time.time(),
        reauth=reauth,
    )


def _to_json(logins: LoginsInFlight) -> dict[str, object]:
    return {
        "b": logins.browser,
        "l": [[p.state, p.nonce, p.verifier, p.next, p.started, p.reauth] for p in logins.logins],
    }


def _from_json(data: dict[str, object]) -> LoginsInFlight:
    now = time.time()
    logins = tuple(
        PendingLogin(str(s), str(n), str(v), str(nx), float(at), bool(re))
        for s, n, v, nx, at, re in data["l"]  # type: ignore[attr-defined]
        if now - float(at) < LIFETIME_SECONDS
    )
    return LoginsInFlight(browser=str(data["b"]), logins=logins)
