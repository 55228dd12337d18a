"""Finding an order the way staff name it: a session id, an OrderID, the 注文番号 the
buyer reads out (with or without hyphens, in full-width digits too), or the buyer's email.

Stripe cannot search Checkout Sessions, so an OrderID is looked for in the sessions created
in the last days (one list call per 100 orders), matching the OrderID with or without its
signature; a session id is one retrieve; an email is the buyer's own order list.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain import Order, normalize_email
from portal.order_numbers import compact
from portal.stripe.client import is_session_id
from portal.stripe.queries import StripeOrders

#: How far back an OrderID is looked for by default.
DEFAULT_SEARCH_DAYS = 30


@dataclass(frozen=True)
class Found:
    """The orders that match, and what finding them cost."""

    orders: tuple[Order, ...]
    stripe_calls: int


def find_orders(
    orders: StripeOrders, wanted: str, *, now: datetime, days: int = DEFAULT_SEARCH_DAYS
) -> Found:
    """The orders ``wanted`` names (an email, a ``cs_…`` id, or an OrderID)."""
    wanted = wanted.strip()
    if is_session_id(wanted):
        order = orders.find_order(wanted)
        return Found((order,) if order else (), 1)
    if "@" in wanted:
        return Found(orders.all_orders(normalize_email(wanted)).orders, 1)
    number = compact(unicodedata.normalize("NFKC", wanted))
    found: list[Order] = []
    calls = 0
    for page in orders.orders_created(now - timedelta(days=days), now):
        calls += 1
        found.extend(o for o in page if _names(o, wanted, number))
    return Found(tuple(found), calls)


def _names(order: Order, wanted: str, number: str) -> bool:
    """Whether staff's ``wanted`` (``number``: it as a compact 注文番号) is this order."""
    return wanted in (order.order_id, order.reference) or compact(order.number) == number
