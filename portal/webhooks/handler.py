"""What a verified Stripe event does: invalidate the orders it changes, maybe forward it."""

from __future__ import annotations

import logging

from portal.eventbridge import EventForwarder
from portal.order_cache import OrderCache
from portal.stripe.events import StripeEvent
from portal.stripe.queries import StripeOrders

log = logging.getLogger(__name__)

SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
REFUND_EVENTS = frozenset({"charge.refunded"})


class EventHandler:
    """Handles each event id once; an event only invalidates, it never becomes state."""

    def __init__(
        self, cache: OrderCache, orders: StripeOrders, forwarder: EventForwarder | None
    ) -> None:
        self._cache = cache
        self._orders = orders
        self._forwarder = forwarder

    def handle(self, event: StripeEvent) -> str:
        """``duplicate``, ``ignored`` or ``invalidated``.

        Raises (``ForwardingFailed``, ``OrdersUnavailable``) when the event must be
        delivered again; the event is then not recorded as handled.
        """
        if event.type in SESSION_EVENTS and not self._forwarder:
            # The common case in one round trip: record the event and mark its orders.
            first = self._cache.first_time_invalidating(
                event.id, email=event.email, session_id=event.object_id
            )
            outcome = "invalidated" if first else "duplicate"
            log.info("webhook %s %s: %s", event.type, event.id, outcome)
            return outcome
        if not self._cache.first_time(event.id):
            return "duplicate"
        try:
            if self._forwarder:
                self._forwarder.forward(event)
            outcome = self._invalidate(event)
        except Exception:
            self._cache.forget(event.id)
            raise
        log.info("webhook %s %s: %s", event.type, event.id, outcome)
        return outcome

    def _invalidate(self, event: StripeEvent) -> str:
        if event.type in SESSION_EVENTS:
            self._cache.invalidate(email=event.email, session_id=event.object_id)
            return "invalidated"
        if event.type in REFUND_EVENTS:
            payment_intent = event.payload["data"]["object"].get("payment_intent")
            if isinstance(payment_intent, str):
                for session_id, email in self._orders.buyers_of(payment_intent):
                    self._cache.invalidate(email=email, session_id=session_id)
            return "invalidated"
        return "ignored"
