"""How long one login step may wait for the OpenID provider, and what its failures mean.

A login step (the start, or the callback) may call the provider several times:
discovery, the token endpoint, the keys, userinfo. Each call alone has a timeout; all of
them together share one :class:`ProviderBudget` (``PORTAL_OIDC_BUDGET_SECONDS``), so a
hung provider holds a portal thread for that long at most, never for the sum of every
call's timeout. :func:`failed_call` sorts a failed call into the provider being down
(the 503 page with ``Retry-After``) or the provider answering something unusable (400).
"""

from __future__ import annotations

import time

import requests

from portal.auth.refusals import LoginRefused

#: Connect and read timeouts of one call to the provider (a read timeout bounds the wait
#: for each piece of the answer, not the whole answer).
TIMEOUT = (3.05, 10.0)

#: Less time than this left is not worth a call: the step is refused at once.
_LEAST_USEFUL_SECONDS = 0.1

#: HTTP statuses that mean "not now" rather than "not like this": the 503 page.
_OUTAGE_STATUSES = frozenset({408, 429})


class ProviderBudget:
    """The time one login step has left for the provider, shared by its calls."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def timeout(self, call: str) -> tuple[float, float]:
        """Connect and read timeouts for ``call``, cut to what is left.

        Raises :class:`LoginRefused` (``provider_down``) when nothing useful is left.
        """
        left = self._ends - time.monotonic()
        if left < _LEAST_USEFUL_SECONDS:
            raise LoginRefused(
                "provider_down",
                f"{call} not called: this login's {self.seconds:g} s for the provider were "
                "spent on its earlier calls (PORTAL_OIDC_BUDGET_SECONDS)",
            )
        return (min(TIMEOUT[0], left), min(TIMEOUT[1], left))


def failed_call(call: str, exc: requests.RequestException) -> LoginRefused:
    """The refusal for ``call`` failing with ``exc``, in words an operator can act on.

    Unreachable, timed out, 5xx, 408 and 429 are an outage (``provider_down``: the
    customer is told to try again shortly); any other HTTP status is an answer the
    provider should not have given (``provider``), and so is a body that is not JSON
    (requests' JSON error is a ``RequestException`` too). No URL query or body is logged.
    """
    if isinstance(exc, requests.exceptions.InvalidJSONError):
        return LoginRefused("provider", f"{call} answer is not JSON")
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        down = status >= 500 or status in _OUTAGE_STATUSES
        return LoginRefused(
            "provider_down" if down else "provider", f"{call} answered HTTP {status}"
        )
    if isinstance(exc, requests.Timeout):
        return LoginRefused("provider_down", f"{call} timed out ({type(exc).__name__})")
    return LoginRefused("provider_down", f"{call} unreachable ({type(exc).__name__})")
