"""Order references that cannot be forged or moved to another Payment Link.

A Payment Link takes its ``client_reference_id`` from the buyer's own URL, so anyone can
pay with someone else's OrderID and, without this, be shown that order's files. A signed
reference is ``<OrderID>_<mac>``, the mac a truncated HMAC-SHA256 (keyed by
``PORTAL_ORDER_ID_KEY``) over the OrderID and the Payment Link's id: only the portal can
make one, and one made for a cheap link is worthless on an expensive one. It stays within
what Stripe keeps of a ``client_reference_id`` (``A-Z a-z 0-9 _ -``, at most 200).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import uuid

MAC_LENGTH = 32  # 128 bits of the HMAC, in hex (no "_" to confuse the split)
log = logging.getLogger(__name__)

_ORDER_ID = re.compile(r"[A-Za-z0-9-]{1,170}")


def mint_order_id() -> str:
    """A fresh OrderID for a purchase started at the portal."""
    return str(uuid.uuid4())


def sign(order_id: str, payment_link_id: str, key: bytes) -> str:
    """The reference to put in the Payment Link URL for ``order_id``."""
    if not _ORDER_ID.fullmatch(order_id):
        raise ValueError("an OrderID is 1-170 letters, digits or '-'")
    return f"{order_id}_{_mac(order_id, payment_link_id, key)}"


def verify(reference: str | None, payment_link_id: str | None, key: bytes) -> bool:
    """Whether ``reference`` was signed by us for exactly this Payment Link."""
    if not reference or not payment_link_id or "_" not in reference:
        return False
    order_id, mac = reference.rsplit("_", 1)
    if not _ORDER_ID.fullmatch(order_id) or len(mac) != MAC_LENGTH:
        return False
    return hmac.compare_digest(mac, _mac(order_id, payment_link_id, key))


def order_id_of(reference: str) -> str:
    """The OrderID inside a signed reference (the reference itself when unsigned)."""
    order_id, _, mac = reference.rpartition("_")
    return order_id if order_id and len(mac) == MAC_LENGTH else reference


def _mac(order_id: str, payment_link_id: str, key: bytes) -> str:
    digest = hmac.new(key, f"{order_id}|{payment_link_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:MAC_LENGTH]


class ReferencePolicy:
    """Which S3 prefix an order's files are under, and whether its reference is trusted."""

    def __init__(self, key: bytes | None, *, required: bool) -> None:
        self._key = key
        self._required = required

    def files_key(self, reference: str | None, payment_link: str | None) -> str | None:
        """The OrderID to find the files by, or ``None`` when the order gets no files.

        A reference signed for the order's own Payment Link gives its OrderID. With
        ``PORTAL_REQUIRE_SIGNED_ORDER_IDS`` anything else gets nothing (and is logged).
        """
        if reference is None:
            return None
        if self._key is not None and verify(reference, payment_link, self._key):
            return order_id_of(reference)
        if self._required:
            log.warning("order reference not signed for its Payment Link: no files shown")
            return None
        return reference

    def sign_for(self, payment_link_id: str) -> str:
        """A new signed reference for a purchase through ``payment_link_id``."""
        if self._key is None:
            raise RuntimeError("PORTAL_ORDER_ID_KEY is not set")
        return sign(mint_order_id(), payment_link_id, self._key)
