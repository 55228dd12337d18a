"""The letter cases a customer's email was typed with at checkout, learned from webhooks.

Stripe's ``customer_details[email]`` filter is exact and case-sensitive, so an order placed
as ``HaNaKo@Example.jp`` is found only by asking for exactly that. The adapter always asks
for the common spellings (as given, lower-case, first letter capitalised); this remembers
the others, from verified ``checkout.session.completed`` events only.

It keeps no order data and not even the email: under the hash of the normalized email it
stores only *which letters were capitals* (their positions), and rebuilds the spelling
from the logged-in customer's own email.
"""

from __future__ import annotations

import logging

from cachelib.base import BaseCache
from redis.exceptions import RedisError

from portal.domain import normalize_email
from portal.emails import ASCII_WHITESPACE
from portal.order_cache import email_key

log = logging.getLogger(__name__)

#: Learned spellings kept per email (the newest first); the adapter asks for each.
MAX_LEARNED = 2
#: Orders live as long as the shop keeps them: remember a spelling for two years.
MEMORY_SECONDS = 2 * 365 * 86400

Capitals = tuple[int, ...]


class EmailSpellings:
    """Learned letter cases per email, in the shared cache."""

    def __init__(self, backend: BaseCache) -> None:
        self._backend = backend

    def learn(self, email: str) -> None:
        """Remember how ``email`` (from a verified checkout event) was typed, unless it is a
        spelling the adapter asks for anyway. Best effort: a cache that is down only
        means the spelling is not learned."""
        typed = email.strip(ASCII_WHITESPACE)
        lower = normalize_email(typed)  # ASCII letters only: positions stay in line
        capitals = tuple(i for i, char in enumerate(typed) if char != lower[i])
        if capitals in ((), (0,)):
            return
        key = _key(typed)
        try:
            known = self._known(key)
            if capitals in known:
                return
            learned = [capitals, *known][:MAX_LEARNED]
            self._backend.set(key, learned, timeout=MEMORY_SECONDS)
        except (RedisError, OSError) as exc:
            log.warning("email spelling not learned (%s)", type(exc).__name__)

    def of(self, email: str) -> list[str]:
        """The learned spellings of ``email`` (any case), newest first."""
        lower = normalize_email(email)
        try:
            known = self._known(_key(lower))
        except (RedisError, OSError):
            return []
        return [_spelled(lower, capitals) for capitals in known]

    def _known(self, key: str) -> list[Capitals]:
        found = self._backend.get(key)
        if not isinstance(found, list):
            return []
        return [tuple(c) for c in found if isinstance(c, list | tuple)]


def _key(email: str) -> str:
    return f"spell:{email_key(email)}"


def _spelled(lower: str, capitals: Capitals) -> str:
    chars = list(lower)
    for index in capitals:
        if 0 <= index < len(chars) and chars[index].isascii():
            chars[index] = chars[index].upper()
    return "".join(chars)
