"""The customer's own order history as JSON or CSV: order data only, no links or secrets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
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


def _decimal(money: Money) -> str:
    """``5000`` for ¥5,000 and ``19.99`` for $19.99: the amount as a plain decimal."""
    return f"{abs(money.amount) / 10**money.decimals:.{money.decimals}f}"


def _cell(value: Any) -> str:
    # A cell starting with = + - @ (or a tab/CR) is a formula to spreadsheet programs.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
