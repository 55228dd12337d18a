"""Alerts for the shop's staff: what went wrong with an order, told once, without secrets.

An alert names the order number, the Checkout Session, the buyer's masked email and a
Stripe dashboard link; never a full email, a key or a file link. Each channel (SNS, a
Slack-compatible webhook, else the log) is told each alert at most once per order and
kind (``dedupe.py``); many at once become one summary instead of a flood. Written in the
shop's language (``PORTAL_DEFAULT_LOCALE``), from the same catalogs as the pages.
"""

from __future__ import annotations

import enum
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from portal.domain import N_
from portal.fulfilment.dedupe import Once
from portal.fulfilment.language import catalog

log = logging.getLogger(__name__)

#: More new alerts than this in one go are sent as one summary.
SUMMARY_OVER = 5
#: Lines a summary lists before "and N more".
SUMMARY_LINES = 20


class AlertKind(enum.Enum):
    """What went wrong."""

    FULFILMENT_FAILED = "fulfilment_failed"
    FULFILMENT_OVERDUE = "fulfilment_overdue"
    ASYNC_PAYMENT_FAILED = "async_payment_failed"
    DISPUTE_OPENED = "dispute_opened"
    REFUND_FAILED = "refund_failed"

    @property
    def label(self) -> str:
        """The kind in words (untranslated; see ``Alerts.translate``)."""
        return _LABELS[self]


_LABELS = {
    AlertKind.FULFILMENT_FAILED: N_("Fulfilment failed"),
    AlertKind.FULFILMENT_OVERDUE: N_("Fulfilment overdue"),
    AlertKind.ASYNC_PAYMENT_FAILED: N_("Konbini or bank payment failed"),
    AlertKind.DISPUTE_OPENED: N_("Payment disputed"),
    AlertKind.REFUND_FAILED: N_("Refund failed"),
}
_LINE = N_("%(what)s: order %(order_id)s (%(session_id)s), %(who)s, %(link)s")
_SUBJECT_ONE = N_("Order Portal: %(what)s, order %(order_id)s")
_SUBJECT_MANY = N_("Order Portal: %(count)s new alerts")
_SUMMARY = N_("%(count)s new alerts: %(kinds)s")
_MORE = N_("… and %(count)s more.")


@dataclass(frozen=True)
class Alert:
    """One problem with one order."""

    kind: AlertKind
    #: The 注文番号 the buyer and the shop's staff read (``Order.number``).
    order_id: str
    session_id: str
    #: The buyer's masked email (``h***@example.jp``).
    who: str
    #: The Stripe dashboard page of the order (or of the dispute or refund).
    link: str

    @property
    def key(self) -> str:
        """Once per order and kind."""
        return f"alert:{self.kind.value}:{self.session_id}"


class AlertNotSent(Exception):
    """A channel could not deliver; ``str()`` names the cause, never a secret."""


class Channel(Protocol):
    """Where alerts go: SNS, a Slack-compatible webhook, the log."""

    name: str

    def send(self, subject: str, text: str) -> None:
        """Deliver one message or raise :class:`AlertNotSent`."""


class LogChannel:
    """When no channel is configured, alerts are at least in the log (cron keeps it)."""

    name = "log"

    def send(self, subject: str, text: str) -> None:
        """Write the message as one warning."""
        log.warning("%s\n%s", subject, text)


@dataclass
class Told:
    """What one ``tell`` did."""

    sent: list[Alert] = field(default_factory=list)
    #: Already told before (another run, another host, a webhook).
    already: int = 0
    #: Channels that failed (their claims were given back for the next run).
    failed: list[str] = field(default_factory=list)


class Alerts:
    """Tells each channel each alert once."""

    def __init__(self, once: Once, channels: Sequence[Channel], locale: str) -> None:
        self._once = once
        self._channels = list(channels) or [LogChannel()]
        self._locale = locale

    @property
    def channel_names(self) -> list[str]:
        """The channels in use, for the report."""
        return [channel.name for channel in self._channels]

    def tell(self, alerts: Sequence[Alert]) -> Told:
        """Send the alerts not sent before, per channel; one summary when there are many."""
        told = Told()
        sent: dict[str, Alert] = {}
        claimed: set[str] = set()
        for channel in self._channels:
            fresh = [a for a in alerts if self._once.claim(f"{channel.name}:{a.key}")]
            claimed.update(a.key for a in fresh)
            if not fresh:
                continue
            try:
                for subject, text in self.messages(fresh):
                    channel.send(subject, text)
            except AlertNotSent as exc:
                log.error("alerts not sent to %s: %s (will retry next run)", channel.name, exc)
                for alert in fresh:
                    self._once.release(f"{channel.name}:{alert.key}")
                told.failed.append(channel.name)
                continue
            sent.update((a.key, a) for a in fresh)
        told.sent = list(sent.values())
        told.already = len({a.key for a in alerts} - claimed)
        return told

    def forget(self, alerts: Sequence[Alert]) -> None:
        """Let these alerts be told again (after a re-run, a new failure is news)."""
        for channel in self._channels:
            for alert in alerts:
                self._once.release(f"{channel.name}:{alert.key}")

    def was_sent(self, kind: AlertKind, session_id: str) -> bool:
        """Whether any channel was told ``kind`` about this order (for ``portal lookup``)."""
        key = f"alert:{kind.value}:{session_id}"
        return any(self._once.claimed(f"{channel.name}:{key}") for channel in self._channels)

    def messages(self, alerts: Sequence[Alert]) -> list[tuple[str, str]]:
        """Each alert as its own message, or one summary when there are many."""
        t = self.translate
        if len(alerts) <= SUMMARY_OVER:
            return [
                (t(_SUBJECT_ONE) % {"what": t(a.kind.label), "order_id": a.order_id}, self.line(a))
                for a in alerts
            ]
        counts = Counter(a.kind for a in alerts)
        kinds = ", ".join(f"{t(kind.label)} {n}" for kind, n in counts.most_common())
        lines = [t(_SUMMARY) % {"count": len(alerts), "kinds": kinds}]
        lines += [self.line(a) for a in alerts[:SUMMARY_LINES]]
        if len(alerts) > SUMMARY_LINES:
            lines.append(t(_MORE) % {"count": len(alerts) - SUMMARY_LINES})
        return [(t(_SUBJECT_MANY) % {"count": len(alerts)}, "\n".join(lines))]

    def line(self, alert: Alert) -> str:
        """One alert as one line."""
        return self.translate(_LINE) % {
            "what": self.translate(alert.kind.label),
            "order_id": alert.order_id,
            "session_id": alert.session_id,
            "who": alert.who,
            "link": alert.link,
        }

    def translate(self, message: str) -> str:
        """``message`` in the shop's language."""
        return catalog(self._locale).gettext(message)


def dashboard_link(object_id: str, *, live: bool) -> str:
    """The Stripe dashboard's page for any object id (its search finds every kind)."""
    mode = "" if live else "test/"
    return f"https://dashboard.stripe.com/{mode}search?query={object_id}"
