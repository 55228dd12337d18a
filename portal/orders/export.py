"""The customer's own order history as JSON or CSV: order data only, no links or secrets.

Two CSVs: one for people (the page's language, the shop's local times, the order number
and the status in words: what opens in Excel for an expense claim) and ``format=raw``,
which keeps the machine form of the JSON (ISO times in UTC, English names, status codes).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from portal.domain import Money, Order
from portal.receipts.tax import TaxRates, order_taxes, percent

FIELDS = (
    "order_id",
    "session_id",
    "created",
    "status",
    "currency",
    "total",
    "refunded",
    "tax",
    "tax_by_rate",
    "tax_source",
    "items",
    "number",
)


def order_record(order: Order, rates: TaxRates | None = None) -> dict[str, Any]:
    """One order as plain values. Hosted URLs (receipts, vouchers) are left out on purpose:
    they open without a login, and an export is a file that travels. The tax is the
    receipt's (``portal.receipts.tax``): ``tax`` is empty when it is not known."""
    refunded = order.payment.refunded
    taxes = order_taxes(order, rates or TaxRates())
    return {
        "order_id": order.order_id,
        "session_id": order.session_id,
        "created": order.created.isoformat(),
        "status": order.status.value,
        "currency": order.total.currency.upper(),
        "total": _decimal(order.total),
        "refunded": _decimal(refunded) if refunded else None,
        "tax": _decimal(taxes.tax) if taxes.tax else None,
        "tax_by_rate": [
            {
                "rate": percent(rate.rate),
                "total": _decimal(taxes.money(rate.inclusive_total)),
                "tax": _decimal(taxes.money(rate.tax)),
            }
            for rate in taxes.rates
        ],
        "tax_source": taxes.source.value,
        "items": [
            {
                "description": item.description,
                "quantity": item.quantity,
                "amount": _decimal(item.amount_total),
            }
            for item in order.items
        ],
        "number": order.number,
    }


def as_csv(orders: Iterable[Order], rates: TaxRates | None = None) -> str:
    """CSV with one row per order; items as ``name x qty`` joined by ``; ``, taxes as
    ``10%: 300`` joined the same way."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for order in orders:
        record = order_record(order, rates)
        record["tax_by_rate"] = "; ".join(
            f"{r['rate']}%: {r['tax']}" for r in record["tax_by_rate"]
        )
        record["items"] = "; ".join(
            f"{i['description']} x {i['quantity']}" for i in record["items"]
        )
        writer.writerow({key: _cell(value) for key, value in record.items()})
    return buffer.getvalue()


@dataclass(frozen=True)
class PeopleCsv:
    """How the people's CSV is written for one reader: translated column names (in the
    order of ``PeopleCsv.row``), status words, the shop's zone, how items are joined."""

    headers: tuple[str, ...]
    statuses: Mapping[str, str]
    zone: tzinfo
    time_format: str
    separator: str
    rates: TaxRates = field(default_factory=TaxRates)

    def row(self, order: Order) -> list[str]:
        """Order number, date and time, status, items, total, the consumption tax in it
        (empty when not known), currency, refunded, OrderID."""
        refunded = order.payment.refunded
        tax = order_taxes(order, self.rates).tax
        return [
            order.number,
            order.created.astimezone(self.zone).strftime(self.time_format),
            self.statuses.get(order.status.value, order.status.value),
            self.separator.join(f"{i.description} \u00d7 {i.quantity}" for i in order.items),
            _decimal(order.total),
            _decimal(tax) if tax else "",
            order.total.currency.upper(),
            _decimal(refunded) if refunded else "",
            order.order_id,
        ]


def as_people_csv(orders: Iterable[Order], wording: PeopleCsv) -> str:
    """CSV a person opens in a spreadsheet: one row per order, in their language."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(wording.headers)
    for order in orders:
        writer.writerow([_cell(value) for value in wording.row(order)])
    return buffer.getvalue()


def _decimal(money: Money) -> str:
    """``5000`` for ¥5,000 and ``19.99`` for $19.99: the amount as a plain decimal."""
    return f"{abs(money.amount) / 10**money.decimals:.{money.decimals}f}"


def _cell(value: Any) -> str:
    # A cell starting with = + - @ (or a tab/CR) is a formula to spreadsheet programs.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
