"""What a verified Stripe event does: invalidate the orders it changes, maybe forward it."""

from __future__ import annotations

import logging
from collections.abc import Callable

from portal.eventbridge import EventForwarder
from portal.order_cache import OrderCache
from portal.orders.spellings import EmailSpellings
from portal.stripe.events import StripeEvent

log = logging.getLogger(__name__)

SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
#: Events about a refund; each object (a Charge or a Refund) names its ``payment_intent``.
REFUND_EVENTS = frozenset(
    {
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
    }
)

#: Events about a dispute (chargeback); each Dispute names its ``payment_intent``. An
#: open dispute withholds the order's files, a decided one gives them back or ends them,
#: so a cached order must not outlive the news.
DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
#: Events that change the orders a payment intent paid for.
PAYMENT_EVENTS = REFUND_EVENTS | DISPUTE_EVENTS


class EventHandler:
    """Handles each event id once; an event only invalidates, it never becomes state.

    Nothing here asks Stripe, so a webhook is answered in a few cache round trips whatever
    Stripe is doing. The event is recorded together with its effect, last: if anything
    fails first (the forward, the cache), nothing is recorded, the caller answers 503 and
    Stripe's retry acts on it.
    """

    def __init__(
        self,
        cache: OrderCache,
        forwarder: EventForwarder | None,
        alerts: Callable[[StripeEvent], None] | None = None,
        spellings: EmailSpellings | None = None,
    ) -> None:
        self._cache = cache
        self._forwarder = forwarder
        #: Tells the shop's staff about lapsed payments, disputes and failed refunds
        #: (issue 18); told once whatever Stripe redelivers, and it never raises.
        self._alerts = alerts
        self._spellings = spellings

    def handle(self, event: StripeEvent) -> str:
        """``duplicate``, ``ignored`` or ``invalidated``.

        Raises ``ForwardingFailed`` or ``CacheUnavailable`` when the event must be
        delivered again; it is then not recorded as handled. Forwarding is at least once:
        a retry after a failed record forwards again, with the same event id.
        """
        outcome = self._handle(event)
        if self._alerts and outcome != "duplicate":
            self._alerts(event)
        return outcome

    def _handle(self, event: StripeEvent) -> str:
        acts = event.type in SESSION_EVENTS or event.type in PAYMENT_EVENTS
        if not acts and not self._forwarder:
            return "ignored"  # nothing to remember: a repeat would do nothing either
        if self._forwarder:
            if self._cache.seen(event.id):
                return "duplicate"
            self._forwarder.forward(event)
        if event.type in SESSION_EVENTS:
            if event.type == "checkout.session.completed" and event.email and self._spellings:
                self._spellings.learn(event.email)
            first = self._cache.record_event(
                event.id, email=event.email, session_id=event.object_id
            )
        else:
            first = self._cache.record_event(event.id, payment_intent=_payment_intent(event))
        outcome = ("invalidated" if acts else "ignored") if first else "duplicate"
        log.info("webhook %s %s: %s", event.type, event.id, outcome)
        return outcome


def _payment_intent(event: StripeEvent) -> str | None:
    if event.type not in PAYMENT_EVENTS:
        return None
    payment_intent = event.payload["data"]["object"].get("payment_intent")
    return payment_intent if isinstance(payment_intent, str) else None
