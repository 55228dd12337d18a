"""Alerts raised by Stripe's webhooks as they arrive, before ``portal watch`` runs.

``checkout.session.async_payment_failed`` carries the order; a dispute
(``charge.dispute.created``) and a failed refund (``refund.failed``, or
``charge.refund.updated`` with ``status: failed``) carry a payment intent, from which the
order is found (one Stripe call; these events are rare). Claimed in the same shared cache
as the watch's, so a problem the webhook told is not told again by the next run.
"""

from __future__ import annotations

import logging

from portal.domain import PortalError
from portal.fulfilment.alerts import AlertKind, Alerts
from portal.fulfilment.dedupe import CacheUnavailable
from portal.fulfilment.watch import order_alert
from portal.stripe.events import StripeEvent
from portal.stripe.queries import StripeOrders

log = logging.getLogger(__name__)

_BY_PAYMENT_INTENT = {
    "charge.dispute.created": AlertKind.DISPUTE_OPENED,
    "refund.failed": AlertKind.REFUND_FAILED,
    "charge.refund.updated": AlertKind.REFUND_FAILED,
}


class EventAlerts:
    """Turns the events that carry a problem into alerts."""

    def __init__(self, orders: StripeOrders, alerts: Alerts) -> None:
        self._orders = orders
        self._alerts = alerts

    def notice(self, event: StripeEvent) -> None:
        """Tell the shop about ``event`` if it says something went wrong. Never raises:
        the webhook's own work (and Stripe's retry policy) must not depend on alerts."""
        try:
            self._notice(event)
        except (PortalError, CacheUnavailable) as exc:
            log.error("alert for %s %s not raised: %s", event.type, event.id, exc)

    def _notice(self, event: StripeEvent) -> None:
        obj = event.payload["data"]["object"]
        if event.type == "checkout.session.async_payment_failed" and event.object_id:
            order = self._orders.find_order(event.object_id)
            if order is not None:
                self._alerts.tell([order_alert(AlertKind.ASYNC_PAYMENT_FAILED, order)])
            return
        kind = _BY_PAYMENT_INTENT.get(event.type)
        if kind is None or (
            event.type == "charge.refund.updated" and obj.get("status") != "failed"
        ):
            return
        payment_intent = obj.get("payment_intent")
        if not isinstance(payment_intent, str):
            return
        orders = self._orders.orders_paid_by(payment_intent)
        self._alerts.tell([order_alert(kind, order, object_id=event.object_id) for order in orders])
