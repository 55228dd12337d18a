"""The one state a buyer acts on, said the same way in the list and on the order page.

Stripe's payment status says whether money arrived; the buyer wants to know what to do:
download (ダウンロードできます), wait (準備中), pay by a deadline (お支払い待ち・期限
12/05(金)), or buy again because the deadline passed. A lapsed payment reads as lapsed
everywhere, never as "files come after payment".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.domain import N_, Order, OrderStatus


@dataclass(frozen=True)
class BuyerState:
    """What to show for an order: a key for styling and tests, the words, a deadline."""

    key: str
    label: str
    deadline: datetime | None = None

    @property
    def lapsed(self) -> bool:
        """The payment was not made (in time): the order can only be bought again."""
        return self.key in ("lapsed", "failed")

    @property
    def awaiting(self) -> bool:
        """The buyer still has to pay."""
        return self.key in ("pay_konbini", "pay_transfer", "pay")


def buyer_state(order: Order, files_ready: bool | None, now: datetime) -> BuyerState:
    """The state of ``order``; ``files_ready`` is whether its files are there (``None``:
    no files expected, or S3 could not say)."""
    status = order.status
    if status is OrderStatus.REFUNDED:
        return BuyerState("refunded", N_("Refunded"))
    if status is OrderStatus.PAYMENT_FAILED:
        if order.payment.method in ("konbini", "customer_balance"):
            return BuyerState("lapsed", N_("Payment deadline passed"))
        return BuyerState("failed", N_("Payment did not go through"))
    if status is OrderStatus.AWAITING_PAYMENT:
        return _awaiting(order, now)
    if files_ready is True:
        return BuyerState("download", N_("Ready to download"))
    if files_ready is False:
        return BuyerState("preparing", N_("Being prepared"))
    return BuyerState("paid", N_("Paid"))


def _awaiting(order: Order, now: datetime) -> BuyerState:
    konbini = order.payment.konbini
    if konbini is not None:
        if konbini.expires_at is not None and konbini.expires_at <= now:
            # Stripe's "payment failed" event may come a while after the deadline.
            return BuyerState("lapsed", N_("Payment deadline passed"), konbini.expires_at)
        return BuyerState("pay_konbini", N_("Awaiting payment"), konbini.expires_at)
    if order.payment.bank_transfer is not None:
        return BuyerState("pay_transfer", N_("Awaiting your bank transfer"))
    return BuyerState("pay", N_("Awaiting payment"))
