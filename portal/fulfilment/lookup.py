"""``portal lookup``: what a customer sees, for staff answering 「注文について問い合わせ」.

For each order: its number, session, dates, payment state, the files and the pipeline's
status object, whether its reference gives files, what the page tells the buyer, and which
alerts were sent about it. Printed for the staff member at the terminal; never logged.
"""

from __future__ import annotations

from datetime import datetime

from portal.domain import FilesUnavailable, Order
from portal.fulfilment.alerts import AlertKind, Alerts
from portal.fulfilment.delivery import DeliveryReader, files_key
from portal.fulfilment.progress import progress_of
from portal.order_refs import ReferencePolicy


class Lookup:
    """Describes orders as their buyer sees them."""

    def __init__(
        self,
        delivery: DeliveryReader,
        references: ReferencePolicy,
        alerts: Alerts | None,
        *,
        usual_hours: int,
    ) -> None:
        self._delivery = delivery
        self._references = references
        self._alerts = alerts
        self._usual_hours = usual_hours

    def describe(self, order: Order, now: datetime) -> list[str]:
        """The order as lines of text."""
        lines = [
            f"Order {order.number}  ({order.session_id})",
            f"  OrderID:    {order.order_id}",
            f"  email:      {order.email or '-'}",
            f"  placed:     {order.created.isoformat()}",
            f"  paid:       {order.paid_at.isoformat() if order.paid_at else '-'}",
            f"  status:     {order.status.value}",
            f"  total:      {order.total}",
            f"  reference:  {order.reference or '-'}",
        ]
        key = files_key(self._references, order)
        if not order.is_paid:
            lines.append("  files:      not shown until paid")
        elif key is None:
            lines.append("  files:      none: no reference, or not signed for this order's link")
        else:
            lines += self._delivery_lines(order, key, now)
        lines.append(f"  alerts sent: {self._alerts_sent(order)}")
        return lines

    def _delivery_lines(self, order: Order, key: str, now: datetime) -> list[str]:
        try:
            delivery = self._delivery.read(key)
        except FilesUnavailable:
            return ["  files:      S3 did not answer"]
        names = ", ".join(f.name for f in delivery.files) or "none yet"
        status = delivery.status
        stated = "none"
        if status is not None:
            stated = status.state.value
            if status.updated_at:
                stated += f" (updated {status.updated_at.isoformat()})"
        progress = progress_of(order, delivery, usual_hours=self._usual_hours, now=now)
        seen = progress.stage.value + (f" ({progress.delay.value})" if progress.delay else "")
        return [
            f"  files:      {names}  (under {key})",
            f"  status obj: {stated}",
            f"  buyer sees: {seen}, due {progress.due.isoformat()}",
        ]

    def _alerts_sent(self, order: Order) -> str:
        if self._alerts is None:
            return "unknown (no shared cache)"
        sent = [kind.value for kind in AlertKind if self._alerts.was_sent(kind, order.session_id)]
        return ", ".join(sent) or "none"
