"""Order-list filters that live in the URL, so a customer can bookmark them."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from flask_babel import gettext as _

from portal.domain import N_, Order, OrderStatus
from portal.orders.search import Query

#: The ``status`` values a URL may carry, and the order states each one means.
STATUS_CHOICES: dict[str, frozenset[OrderStatus]] = {
    "paid": frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED}),
    "awaiting": frozenset({OrderStatus.AWAITING_PAYMENT}),
    "refunded": frozenset({OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED}),
    "failed": frozenset({OrderStatus.PAYMENT_FAILED}),
}
MAX_QUERY_LENGTH = 100
#: Dates a filter may name: Stripe's lifetime and then some; others get a notice.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2999, 12, 31)


@dataclass(frozen=True)
class OrderFilter:
    """Which orders to show: by status, date range (inclusive, in the shop's zone) and text."""

    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    query: str | None = None
    #: Days start at midnight here: a customer in Tokyo means Tokyo's dates.
    zone: tzinfo = UTC

    @property
    def active(self) -> bool:
        """Whether anything is filtered at all."""
        return any((self.status, self.date_from, self.date_to, self.query))

    def matches(self, order: Order) -> bool:
        """Whether ``order`` passes every filter that is set."""
        if self.status and order.status not in STATUS_CHOICES[self.status]:
            return False
        if self.date_from and order.created < _start_of(self.date_from, self.zone):
            return False
        if self.date_to and order.created >= _start_of(self.date_to + timedelta(days=1), self.zone):
            return False
        return not self.query or self._mentions(order)

    def created_between(self) -> tuple[datetime | None, datetime | None]:
        """The date range as times: its first moment, and the moment after its last day."""
        start = _start_of(self.date_from, self.zone) if self.date_from else None
        end = _start_of(self.date_to + timedelta(days=1), self.zone) if self.date_to else None
        return start, end

    def as_args(self) -> dict[str, str]:
        """The filter as URL parameters, for links that keep it (paging, exports)."""
        args = {
            "status": self.status,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "q": self.query,
        }
        return {k: v for k, v in args.items() if v}

    def _mentions(self, order: Order) -> bool:
        texts = [order.order_id, order.number, *(item.description for item in order.items)]
        return Query.parse(self.query or "").matches(texts, (order.number, order.order_id))

    def presets(self, today: date) -> list[Preset]:
        """The period links above the list, keeping the other filters; the one whose
        dates are this filter's is marked current."""
        links = []
        for name, label in PRESETS.items():
            start, end = preset_dates(name, today)
            args = {**self.as_args(), "from": start.isoformat(), "to": end.isoformat()}
            current = (self.date_from, self.date_to) == (start, end)
            links.append(Preset(label, args, current))
        return links


@dataclass(frozen=True)
class Preset:
    """One period link: its label (translated where shown), URL parameters, and whether
    the list shows that period now."""

    label: str
    args: dict[str, str]
    current: bool


#: Date ranges offered as one-click links above the list (先月・今年・過去3か月).
PRESETS = {
    "last_month": N_("Last month"),
    "this_year": N_("This year"),
    "last_3_months": N_("Past 3 months"),
}


def preset_dates(name: str, today: date) -> tuple[date, date]:
    """The inclusive ``from``-``to`` dates of a preset, counted in the shop's days."""
    if name == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if name == "this_year":
        return today.replace(month=1, day=1), today
    if name == "last_3_months":
        return _months_before(today, 3) + timedelta(days=1), today
    raise ValueError(f"unknown preset {name!r}")


def _months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the month's last day when it has no such day)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    last_day = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last_day))


def today_in(zone: tzinfo) -> date:
    """The shop's today: presets count days where the shop is."""
    return datetime.now(zone).date()


def parse_filter(args: Mapping[str, str], zone: tzinfo = UTC) -> tuple[OrderFilter, list[str]]:
    """The filter in ``args``; invalid values are dropped with a notice saying so.

    Notices are in the request's language, so this runs inside a request.
    """
    notices: list[str] = []
    status = (args.get("status") or "").strip() or None
    if status and status not in STATUS_CHOICES:
        notices.append(_("The status filter was not recognised and is not applied."))
        status = None
    date_from = _date(args.get("from"), _("From"), notices)
    date_to = _date(args.get("to"), _("To"), notices)
    if date_from and date_to and date_from > date_to:
        notices.append(_("The start date is after the end date; the dates are not applied."))
        date_from = date_to = None
    query = " ".join((args.get("q") or "").split())[:MAX_QUERY_LENGTH] or None
    return OrderFilter(status, date_from, date_to, query, zone), notices


def _date(raw: str | None, name: str, notices: list[str]) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw.strip()) if len(raw.strip()) == 10 else _invalid()
    except ValueError:
        notices.append(
            _(
                "The “%(name)s” date was not understood (use YYYY-MM-DD) and is not applied.",
                name=name,
            )
        )
        return None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        # 9999-12-31 is a valid date, but the day after it (the filter's end) is not.
        notices.append(_("The “%(name)s” date is out of range and is not applied.", name=name))
        return None
    return day


def _invalid() -> date:
    raise ValueError("not YYYY-MM-DD")


def _start_of(day: date, zone: tzinfo) -> datetime:
    midnight = datetime.combine(day, time.min)
    # A pytz zone (what flask-babel gives) must localize: as a plain ``tzinfo`` it is the
    # zone's first historical offset (Tokyo +09:19, not +09:00).
    localize = getattr(zone, "localize", None)
    return localize(midnight) if localize else midnight.replace(tzinfo=zone)
