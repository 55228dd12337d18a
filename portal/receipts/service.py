"""Issuing a receipt: the order as Stripe has it now, owner-checked, and the first issue
remembered in Stripe so a later download is an honest 「再発行」."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from portal.domain import Order, ReceiptIssue
from portal.orders.service import OrderNotFound
from portal.receipts.issue import (
    Receipt,
    ReceiptConfig,
    ReceiptRefused,
    Words,
    addressee_of,
    build_receipt,
    purpose_of,
    refusal,
)
from portal.stripe.queries import StripeOrders
from portal.stripe.receipt_memory import ReceiptMemory


@dataclass(frozen=True)
class ReceiptRequest:
    """What the buyer typed on the order page (either may be blank)."""

    addressee: str = ""
    purpose: str = ""


class ReceiptService:
    """Receipts of a customer's own paid orders, read fresh from Stripe."""

    def __init__(
        self,
        orders: StripeOrders,
        memory: ReceiptMemory,
        config: ReceiptConfig,
        order_changed: Callable[[str, str], None],
    ) -> None:
        self._orders = orders
        self._memory = memory
        self.config = config
        self._order_changed = order_changed

    def issue(self, email: str, session_id: str, typed: ReceiptRequest, words: Words) -> Receipt:
        """The receipt of the customer's order: the first issue with what they typed, or a
        re-issue with what was remembered. Raises ``OrderNotFound``, ``ReceiptRefused`` or
        ``ReceiptInputError``."""
        order = self._fresh_order(email, session_id)
        reason = refusal(order)
        if reason:
            raise ReceiptRefused(reason)
        now = datetime.now(UTC)
        first = order.receipt_issue
        if first is not None:
            return build_receipt(
                order,
                self.config,
                addressee=first.addressee,
                purpose=first.purpose,
                issued_at=now,
                first_issued_at=first.issued_at,
            )
        issue = ReceiptIssue(
            addressee=addressee_of(typed.addressee, self.config),
            purpose=purpose_of(typed.purpose, order, self.config, words),
            issued_at=now,
        )
        if self._memory.remember(
            issue,
            intent_id=order.payment_intent,
            invoice_id=order.payment.invoice_id,
        ):
            self._order_changed(email, session_id)
        return build_receipt(
            order,
            self.config,
            addressee=issue.addressee,
            purpose=issue.purpose,
            issued_at=now,
            first_issued_at=None,
        )

    @property
    def remembers(self) -> bool:
        """False once Stripe refused to keep a first issue (the key may not write it)."""
        return self._memory.writable is not False

    def _fresh_order(self, email: str, session_id: str) -> Order:
        # Not the cache: a receipt states what Stripe says now (refunds, the first issue).
        order = self._orders.find_order(session_id)
        if order is None or not order.belongs_to(email):
            raise OrderNotFound(session_id)
        return order
