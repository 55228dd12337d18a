"""The order number a buyer reads (注文番号): short, stable, and safe to say aloud.

A portal-minted OrderID is a UUID (``216e5820-c1b7-4f0e-…``), and an order bought without
one is known only by its Checkout Session id: neither can be read over the phone. Both
get a 12-digit number derived from them (``4821-0937-5512``): the same id always gives the
same number, so the buyer, the shop and the portal's search all agree on it. The full
reference stays in the URL and the exports.

A shop that mints its own OrderIDs (``JP-1001``) sees them as they are, or, with
``PORTAL_ORDER_NUMBER_PATTERN``, the part its pattern picks out.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
DIGITS = 12


def derived_number(identifier: str) -> str:
    """Twelve digits in groups of four, from a hash of ``identifier``."""
    digest = hashlib.sha256(identifier.encode()).digest()
    digits = f"{int.from_bytes(digest[:8], 'big') % 10**DIGITS:0{DIGITS}d}"
    return "-".join(digits[i : i + 4] for i in range(0, DIGITS, 4))


class OrderNumbers:
    """How this shop's OrderIDs become the numbers its buyers see."""

    def __init__(self, pattern: str | None = None) -> None:
        self._pattern = re.compile(pattern) if pattern else None

    def number(self, order_id: str | None, session_id: str) -> str:
        """The 注文番号 of an order with OrderID ``order_id`` (``None``: no reference)."""
        return _number(order_id, session_id, self._pattern)


@lru_cache(maxsize=16384)
def _number(order_id: str | None, session_id: str, pattern: re.Pattern[str] | None) -> str:
    if not order_id:
        return derived_number(session_id)
    if _UUID.fullmatch(order_id):
        return derived_number(order_id)
    found = pattern.search(order_id) if pattern else None
    if found:
        shown = found.group("number") if pattern and pattern.groupindex else found.group(0)
        if shown:
            return shown
    return order_id


def compact(text: str) -> str:
    """An order number as typed or shown, without hyphens and spaces, upper case: so
    ``r2001``, ``R-2001`` and ``R 2001`` are the same number."""
    return _SEPARATORS.sub("", text).upper()


#: Spaces, ASCII and Unicode hyphens and dashes, the long-vowel mark a Japanese keyboard
#: types for "-", and "_".
_SEPARATORS = re.compile("[\\s\\-_\u2010-\u2015\u2212\u30fc\uff0d]")
