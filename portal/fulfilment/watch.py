"""``portal watch``: find the orders that need a human, and tell the shop once.

One run lists the Checkout Sessions created in the last days (Stripe's list by
``created``, not per customer: one call per 100 orders), looks at each paid order's S3
prefix (one listing, plus the status object when it changed) and raises an alert for a
failed or overdue fulfilment, a konbini or bank payment that failed, a dispute and a
failed refund. Safe on several hosts at once: a run lock, and each alert claimed once in
the shared cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from portal.audit import mask_email
from portal.domain import FilesUnavailable, Order, OrderStatus
from portal.fulfilment.alerts import Alert, AlertKind, Alerts, dashboard_link
from portal.fulfilment.delivery import DeliveryReader, files_key
from portal.fulfilment.mail import ReadyMails
from portal.fulfilment.progress import Delay, progress_of
from portal.fulfilment.status import FulfilmentState
from portal.order_refs import ReferencePolicy
from portal.stripe.queries import StripeOrders

log = logging.getLogger(__name__)

#: How far back a run looks by default: konbini vouchers last up to days, and an order
#: stays overdue until someone acts.
DEFAULT_DAYS = 7


@dataclass
class WatchReport:
    """What one run looked at, what it cost, and what it told."""

    orders: int = 0
    stripe_calls: int = 0
    s3_listings: int = 0
    s3_status_reads: int = 0
    s3_unavailable: int = 0
    found: list[Alert] = field(default_factory=list)
    sent: list[Alert] = field(default_factory=list)
    already: int = 0
    failed_channels: list[str] = field(default_factory=list)
    #: Buyers mailed that their files are ready (``PORTAL_MAIL_FROM``), or ``None``: off.
    mails_sent: int | None = None

    def summary(self) -> str:
        """One line for cron's mail or the journal."""
        line = (
            f"portal watch: {self.orders} orders, {len(self.found)} problems, "
            f"{len(self.sent)} alerts sent, {self.already} already sent; cost: "
            f"{self.stripe_calls} Stripe calls, {self.s3_listings} S3 listings, "
            f"{self.s3_status_reads} S3 status reads"
        )
        if self.mails_sent is not None:
            line += f"; {self.mails_sent} ready mails sent"
        if self.s3_unavailable:
            line += f"; S3 did not answer for {self.s3_unavailable} orders"
        if self.failed_channels:
            line += f"; NOT SENT to {', '.join(self.failed_channels)} (retried next run)"
        return line


class Watch:
    """One pass over the recent orders."""

    def __init__(
        self,
        orders: StripeOrders,
        delivery: DeliveryReader,
        references: ReferencePolicy,
        alerts: Alerts,
        *,
        usual_hours: int,
        mails: ReadyMails | None = None,
    ) -> None:
        self._mails = mails
        self._orders = orders
        self._delivery = delivery
        self._references = references
        self._alerts = alerts
        self._usual_hours = usual_hours

    def run(self, now: datetime, days: int = DEFAULT_DAYS) -> WatchReport:
        """Look at the orders created in the last ``days`` and tell what is new."""
        report = WatchReport(mails_sent=0 if self._mails else None)
        if self._mails:
            self._mails.begin()
        for page in self._orders.orders_created(now - timedelta(days=days), now):
            report.stripe_calls += 1
            for order in page:
                report.orders += 1
                report.found.extend(self._problems(order, now, report))
        report.s3_listings = self._delivery.listings
        report.s3_status_reads = self._delivery.status_reads
        told = self._alerts.tell(report.found)
        report.sent, report.already, report.failed_channels = told.sent, told.already, told.failed
        return report

    def _problems(self, order: Order, now: datetime, report: WatchReport) -> list[Alert]:
        kinds = []
        if order.status is OrderStatus.PAYMENT_FAILED:
            kinds.append(AlertKind.ASYNC_PAYMENT_FAILED)
        if order.payment.disputed:
            kinds.append(AlertKind.DISPUTE_OPENED)
        if order.payment.refund_failed:
            kinds.append(AlertKind.REFUND_FAILED)
        key = files_key(self._references, order)
        if key is not None:
            try:
                delivery = self._delivery.read(key)
            except FilesUnavailable:
                report.s3_unavailable += 1
                return [order_alert(kind, order) for kind in kinds]
            progress = progress_of(order, delivery, usual_hours=self._usual_hours, now=now)
            if self._mails and delivery.files and self._mails.maybe_send(order, delivery.files):
                report.mails_sent = (report.mails_sent or 0) + 1
            if delivery.status and delivery.status.state is FulfilmentState.FAILED:
                kinds.append(AlertKind.FULFILMENT_FAILED)
            elif progress.delay is Delay.OVERDUE:
                kinds.append(AlertKind.FULFILMENT_OVERDUE)
        return [order_alert(kind, order) for kind in kinds]


def order_alert(kind: AlertKind, order: Order, object_id: str | None = None) -> Alert:
    """The alert of ``kind`` for ``order``; the link goes to ``object_id`` when given (a
    dispute, a refund), else to the Checkout Session."""
    live = order.session_id.startswith("cs_live_")
    return Alert(
        kind=kind,
        order_id=order.number,
        session_id=order.session_id,
        who=mask_email(order.email) if order.email else "-",
        link=dashboard_link(object_id or order.session_id, live=live),
    )
