"""Consumption tax on one document: rates, where the figures come from, rounding once per rate.

Japan's qualified-invoice rules (消費税法施行令70条の10, 基本通達1-8-15) want the tax shown
per rate and rounded once per rate per document, never per line. Everything here works in
Stripe's integer minor units, so the same arithmetic serves JPY (no decimals) and USD
(cents). Fractions are cut (切り捨て), the most common practice in Japan.

Where the figures come from is never guessed: Stripe's own tax data when the session has
any (Stripe Tax or tax rates), else the shop's rate settings with prices taken as
tax-inclusive, else none at all, and :class:`TaxSummary` says which.
"""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from portal.domain import LineItem, Money, Order

log = logging.getLogger(__name__)

#: Japan's standard and reduced consumption tax rates (percent).
STANDARD_RATE = Decimal(10)
REDUCED_RATE = Decimal(8)
#: The rates a shop may set for its products: standard, reduced, or none (非課税・不課税).
SETTABLE_RATES = (STANDARD_RATE, REDUCED_RATE, Decimal(0))


class TaxSource(enum.Enum):
    """Where a document's tax figures come from (printed on it, never left implicit)."""

    #: The session's line-item taxes, as Stripe calculated and charged them.
    STRIPE = "stripe"
    #: The shop's rate settings, with the prices taken as tax-inclusive.
    SETTINGS = "settings"
    #: Neither: the document shows amounts only, and says that it has no tax breakdown.
    NONE = "none"


def tax_inside(inclusive: int, rate: Decimal) -> int:
    """The tax contained in a tax-inclusive amount: ``amount * r / (100 + r)``, cut once."""
    return _cut(Decimal(inclusive) * rate / (100 + rate))


def tax_on_top(exclusive: int, rate: Decimal) -> int:
    """The tax added to a tax-exclusive amount: ``amount * r / 100``, cut once."""
    return _cut(Decimal(exclusive) * rate / 100)


def percent(rate: Decimal) -> str:
    """``10`` for ten percent, ``8.875`` for 8.875: a rate as a receipt prints it."""
    if rate == rate.to_integral_value():
        return str(rate.to_integral_value())
    return format(rate.normalize(), "f")


def _cut(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_DOWN))


@dataclass(frozen=True)
class Taxable:
    """One amount of a document at one rate, before the document's totals are made."""

    #: Tax-inclusive amount when ``inclusive``, else the amount tax is added to.
    amount: int
    rate: Decimal
    inclusive: bool
    reduced: bool = False
    #: The tax Stripe charged on this amount, when Stripe calculated it.
    charged: int | None = None


@dataclass(frozen=True)
class RateTotal:
    """One rate's totals on one document: what the qualified-invoice rules ask for."""

    rate: Decimal
    #: A reduced-rate line (※軽減税率対象).
    reduced: bool
    inclusive_total: int
    exclusive_total: int
    tax: int


@dataclass(frozen=True)
class TaxSummary:
    """A document's tax: per rate (highest rate first), and where the figures came from."""

    source: TaxSource
    currency: str
    rates: tuple[RateTotal, ...] = ()
    #: Why there is no breakdown (``NONE``), or what the operator should know.
    note: str = ""

    @property
    def tax(self) -> Money | None:
        """All the consumption tax of the document, or ``None`` when it is not known."""
        if self.source is TaxSource.NONE:
            return None
        return Money(sum(r.tax for r in self.rates), self.currency)

    def money(self, amount: int) -> Money:
        """An amount of this document as :class:`Money`."""
        return Money(amount, self.currency)


def rate_totals(parts: Iterable[Taxable]) -> tuple[RateTotal, ...]:
    """Group amounts by rate and round each rate's tax once.

    Tax-inclusive amounts give the tax inside their sum. Tax-exclusive amounts get the tax
    on their sum; if Stripe charged a different tax on them (it rounds per line item), the
    charged tax is kept, since the buyer paid it, and a warning names the difference.
    """
    groups: dict[tuple[Decimal, bool, bool], list[Taxable]] = defaultdict(list)
    for part in parts:
        groups[(part.rate, part.inclusive, part.reduced)].append(part)
    totals = [
        _rate_total(rate, inclusive, reduced, members)
        for (rate, inclusive, reduced), members in groups.items()
    ]
    return tuple(sorted(totals, key=lambda t: (-t.rate, t.reduced)))


def _rate_total(rate: Decimal, inclusive: bool, reduced: bool, parts: list[Taxable]) -> RateTotal:
    amount = sum(p.amount for p in parts)
    if inclusive:
        tax = tax_inside(amount, rate)
        return RateTotal(rate, reduced, amount, amount - tax, tax)
    tax = tax_on_top(amount, rate)
    charged = [p.charged for p in parts]
    if all(c is not None for c in charged):
        stripe_tax = sum(c for c in charged if c is not None)
        if stripe_tax != tax:
            log.warning(
                "Stripe charged %s tax at %s%% on tax-exclusive prices where rounding once"
                " per rate gives %s: the receipt shows the tax charged",
                stripe_tax,
                rate,
                tax,
            )
            tax = stripe_tax
    return RateTotal(rate, reduced, amount + tax, amount, tax)


@dataclass(frozen=True)
class TaxRates:
    """The shop's rate settings, used when Stripe has no tax data for an order."""

    #: The rate of every product not listed in ``by_product``; ``None``: no default.
    default: Decimal | None = None
    #: Stripe product id -> rate.
    by_product: Mapping[str, Decimal] = field(default_factory=dict)

    def rate_of(self, item: LineItem) -> Decimal | None:
        """The rate set for this item's product, else the default rate."""
        if item.product and item.product in self.by_product:
            return self.by_product[item.product]
        return self.default


def order_taxes(order: Order, rates: TaxRates) -> TaxSummary:
    """The tax of ``order``: from Stripe when the session carries tax data, else from the
    shop's settings, else none (and the summary says why)."""
    currency = order.total.currency
    lines = charged_lines(order)
    if any(item.taxes for item in lines):
        return TaxSummary(TaxSource.STRIPE, currency, rate_totals(_stripe_parts(lines)))
    if order.amount_tax:
        log.warning(
            "order %s: Stripe reports %s tax but no line-item taxes; the receipt shows none",
            order.session_id,
            order.amount_tax,
        )
        return TaxSummary(TaxSource.NONE, currency, note="stripe-total-only")
    unrated = [item for item in lines if rates.rate_of(item) is None]
    if unrated or not order.items:
        return TaxSummary(TaxSource.NONE, currency, note="no-rate")
    parts = []
    for item in lines:
        rate = rates.rate_of(item)
        assert rate is not None
        parts.append(Taxable(item.amount_total.amount, rate, True, reduced=rate == REDUCED_RATE))
    return TaxSummary(TaxSource.SETTINGS, currency, rate_totals(parts))


def charged_lines(order: Order) -> tuple[LineItem, ...]:
    """What the buyer paid for: the items, and the shipping when there is any (taxed like
    an item; without a product, at the default rate)."""
    return order.items + ((order.shipping,) if order.shipping else ())


def _stripe_parts(items: Iterable[LineItem]) -> list[Taxable]:
    parts = []
    for item in items:
        if not item.taxes:
            # An item Stripe applied no tax to: shown as not taxed, never given a rate.
            parts.append(Taxable(item.amount_total.amount, Decimal(0), True))
        for tax in item.taxes:
            reduced = tax.reduced or (tax.kind == "jct" and tax.percentage == REDUCED_RATE)
            if tax.inclusive and len(item.taxes) == 1:
                amount = item.amount_total.amount  # what the buyer paid for the line
            elif tax.inclusive:
                amount = tax.taxable_amount + tax.amount
            else:
                amount = tax.taxable_amount
            parts.append(
                Taxable(amount, tax.percentage, tax.inclusive, reduced=reduced, charged=tax.amount)
            )
    return parts


def is_reduced(item: LineItem, rates: TaxRates, source: TaxSource) -> bool:
    """Whether ``item`` is sold at the reduced rate (marked ※ on the receipt)."""
    if source is TaxSource.STRIPE:
        return any(
            t.reduced or (t.kind == "jct" and t.percentage == REDUCED_RATE) for t in item.taxes
        )
    if source is TaxSource.SETTINGS:
        return rates.rate_of(item) == REDUCED_RATE
    return False
