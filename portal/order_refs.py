"""Order references that cannot be claimed by someone else.

A Payment Link takes its ``client_reference_id`` from the buyer's own URL, so anyone can
pay with someone else's OrderID. If the files were found by that id alone, paying with
``KEN-1`` would show a stranger ken's files. So, by default, files are shown only for a
*signed* reference, ``<OrderID>_<mac>``: the mac is a truncated HMAC-SHA256, keyed by
``PORTAL_ORDER_ID_KEY``, over the OrderID, the Payment Link's id and the buyer's email.
Only the portal (or the shop, holding the key) can make one; one made for a cheap link is
worthless on an expensive one; and replaying someone's reference under another email gets
nothing. It stays within what Stripe keeps of a ``client_reference_id``
(``A-Z a-z 0-9 _ -``, at most 200 characters).

Shops that already sold with plain OrderIDs may opt in to unsigned references
(``PORTAL_UNSIGNED_ORDER_IDS``): only those matching the shop's own pattern, never one
shaped like an OrderID the portal mints, and optionally only for orders placed before a
date.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from portal.emails import normalize_email

MAC_LENGTH = 32  # 128 bits of the HMAC, in hex (no "_" to confuse the split)
log = logging.getLogger(__name__)

#: An OrderID that can be signed: with "_" and the mac it stays within Stripe's 200.
_ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,167}")
_MAC = re.compile(f"[0-9a-f]{{{MAC_LENGTH}}}")
#: What Stripe keeps of a ``client_reference_id``; anything else it silently drops.
_STRIPE_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,200}")
#: The OrderIDs ``/buy/<name>`` mints. A bare one is never accepted unsigned: it is the
#: visible half of someone's signed reference.
MINTED_ORDER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def mint_order_id() -> str:
    """A fresh OrderID for a purchase started at the portal."""
    return str(uuid.uuid4())


def sign(order_id: str, payment_link_id: str, email: str, key: bytes) -> str:
    """The reference to put in the Payment Link URL for ``order_id`` bought by ``email``."""
    if not _ORDER_ID.fullmatch(order_id):
        raise ValueError("an OrderID is 1-167 letters, digits or '-'")
    if not payment_link_id or not normalize_email(email):
        raise ValueError("a Payment Link id and an email are needed to sign")
    return f"{order_id}_{mac(order_id, payment_link_id, email, key)}"


def verified_order_id(
    reference: str | None, payment_link_id: str | None, email: str | None, key: bytes
) -> str | None:
    """The OrderID of ``reference`` when we signed it for this link and email, else ``None``.

    Anything may arrive here (a webhook's JSON): what is not three strings is ``None``.
    """
    if not (isinstance(reference, str) and isinstance(payment_link_id, str)):
        return None
    if not (isinstance(email, str) and payment_link_id and normalize_email(email)):
        return None
    order_id, _, given = reference.rpartition("_")
    if not _ORDER_ID.fullmatch(order_id) or not _MAC.fullmatch(given):
        return None
    try:
        expected = mac(order_id, payment_link_id, email, key)
    except UnicodeEncodeError:  # a lone surrogate from a JSON body: no one signed that
        return None
    return order_id if hmac.compare_digest(given, expected) else None


def verify(
    reference: str | None, payment_link_id: str | None, email: str | None, key: bytes
) -> bool:
    """Whether ``reference`` was signed by us for exactly this Payment Link and email."""
    return verified_order_id(reference, payment_link_id, email, key) is not None


def order_id_of(reference: str) -> str:
    """The OrderID inside a signed reference (the reference itself when unsigned)."""
    order_id, _, given = reference.rpartition("_")
    return order_id if order_id and len(given) == MAC_LENGTH else reference


def mac(order_id: str, payment_link_id: str, email: str, key: bytes) -> str:
    """The signature: the first 32 hex digits of HMAC-SHA256 over
    ``<OrderID>|<plink_…>|<email trimmed, ASCII lower-case>`` (UTF-8).

    Kept this plain so a shop can check it in five lines (README, *Signed OrderIDs*).
    """
    message = f"{order_id}|{payment_link_id}|{normalize_email(email)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:MAC_LENGTH]


@dataclass(frozen=True)
class UnsignedReferences:
    """The shop's opt-in to plain OrderIDs (``PORTAL_UNSIGNED_ORDER_IDS``)."""

    #: The shop's own OrderIDs, matched in full.
    pattern: re.Pattern[str]
    #: Orders placed at or after this get nothing for an unsigned reference.
    until: datetime | None = None

    def accepts(self, reference: str, placed: datetime) -> bool:
        """Whether an order placed at ``placed`` may find its files by ``reference``."""
        if not _STRIPE_REFERENCE.fullmatch(reference) or MINTED_ORDER_ID.fullmatch(reference):
            return False
        if self.until is not None and placed >= self.until:
            return False
        return bool(self.pattern.fullmatch(reference))


class ReferencePolicy:
    """Whether an order's reference is trusted, and the OrderID its files are under."""

    def __init__(self, key: bytes | None, unsigned: UnsignedReferences | None = None) -> None:
        self._key = key
        self._unsigned = unsigned

    def files_key(
        self,
        reference: str | None,
        *,
        payment_link: str | None,
        email: str,
        placed: datetime,
    ) -> str | None:
        """The OrderID to find the order's files by, or ``None`` when it gets no files.

        A reference signed for the order's own Payment Link and checkout email gives its
        OrderID. A plain one counts only when the shop opted in and it fits the opt-in;
        anything else gets nothing (and is logged).
        """
        if reference is None:
            return None
        if self._key is not None:
            order_id = verified_order_id(reference, payment_link, email, self._key)
            if order_id is not None:
                return order_id
        if self._unsigned is not None and self._unsigned.accepts(reference, placed):
            return reference
        log.warning("order reference not signed for its Payment Link and email: no files shown")
        return None

    def sign_for(self, payment_link_id: str, email: str) -> str:
        """A new signed reference for a purchase by ``email`` through ``payment_link_id``."""
        if self._key is None:
            raise RuntimeError("PORTAL_ORDER_ID_KEY is not set")
        return sign(mint_order_id(), payment_link_id, email, self._key)
