"""``portal fulfilment rerun``: a human starts an order's fulfilment again.

Refunding automatically when processing fails is worse than a person re-running it (fees,
a card that cannot be charged again, a buyer who wanted the result). The order must be
paid and not fully refunded; then either a ``fulfilment.rerun`` event goes on the
EventBridge bus (``PORTAL_EVENTBRIDGE_BUS``), or the paid event is sent again, signed the
way Stripe signs it, to the shop's fulfilment endpoint (``PORTAL_FULFILMENT_ENDPOINT``).
The order's failed and overdue alerts are forgotten, so a new failure is told again.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime

from portal.domain import Order, OrderStatus, PortalError
from portal.eventbridge import EventForwarder
from portal.fulfilment.alerts import Alert, AlertKind, Alerts
from portal.fulfilment.delivery import files_key
from portal.fulfilment.resend import EndpointRefused, resend_paid_event
from portal.order_refs import ReferencePolicy
from portal.stripe.queries import StripeOrders

#: ``Source`` of the portal's own events on the bus (Stripe's are ``order-portal.stripe``).
SOURCE = "order-portal.fulfilment"
DETAIL_TYPE = "fulfilment.rerun"


class RerunRefused(PortalError):
    """The order may not be re-run; ``str()`` says why, for the operator."""


@dataclass(frozen=True)
class Rerun:
    """What a re-run did."""

    order: Order
    how: str


class Reruns:
    """Re-runs one order's fulfilment through the bus or the endpoint."""

    def __init__(
        self,
        orders: StripeOrders,
        references: ReferencePolicy,
        *,
        bus: EventForwarder | None,
        endpoint: tuple[str, str] | None,
        alerts: Alerts | None,
    ) -> None:
        self._orders = orders
        self._references = references
        self._bus = bus
        self._endpoint = endpoint
        self._alerts = alerts

    def rerun(self, order: Order) -> Rerun:
        """Check the order, start its fulfilment again, forget its fulfilment alerts."""
        order_id = self._check(order)
        if self._bus is not None:
            detail = {
                "order_id": order_id,
                "session_id": order.session_id,
                "client_reference_id": order.reference,
                "payment_link": order.payment_link,
                "requested_at": datetime.now(tz=UTC).isoformat(),
                "requested_by": getpass.getuser(),
            }
            self._bus.put(SOURCE, DETAIL_TYPE, detail)
            how = f"{DETAIL_TYPE} put on the EventBridge bus"
        elif self._endpoint is not None:
            session = self._orders.session_json(order.session_id)
            if session is None:
                raise RerunRefused("Stripe no longer has this Checkout Session")
            url, secret = self._endpoint
            try:
                event_id = resend_paid_event(session, url, secret)
            except EndpointRefused as exc:
                raise RerunRefused(str(exc)) from exc
            how = f"paid event sent again to the fulfilment endpoint ({event_id})"
        else:
            raise RerunRefused("set PORTAL_EVENTBRIDGE_BUS or PORTAL_FULFILMENT_ENDPOINT first")
        if self._alerts is not None:
            self._alerts.forget(_fulfilment_alerts(order))
        return Rerun(order, how)

    def _check(self, order: Order) -> str:
        if order.status is OrderStatus.REFUNDED:
            raise RerunRefused("the order was refunded")
        if order.status is OrderStatus.AWAITING_PAYMENT:
            raise RerunRefused("the order is not paid yet")
        if order.status is OrderStatus.PAYMENT_FAILED:
            raise RerunRefused("the order's payment failed")
        order_id = files_key(self._references, order)
        if order_id is None:
            raise RerunRefused("the order has no OrderID its files could be written under")
        return order_id


def _fulfilment_alerts(order: Order) -> list[Alert]:
    kinds = (AlertKind.FULFILMENT_FAILED, AlertKind.FULFILMENT_OVERDUE)
    return [Alert(kind, order.order_id, order.session_id, "", "") for kind in kinds]
