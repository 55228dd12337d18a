"""The customer's own order history as JSON or CSV: order data only, no links or secrets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from portal.domain import Money, Order

FIELDS = (
    "order_id",
    "session_id",
    "created",
    "status",
    "currency",
    "total",
    "refunded",
    "items",
)


def order_record(order: Order) -> dict[str, Any]:
    """One order as plain values. Hosted URLs (receipts, vouchers) are left out on purpose:
    they open without a login, and an export is a file that travels."""
    refunded = order.payment.refunded
    return {
        "order_id": order.order_id,
        "session_id": order.session_id,
        "created": order.created.isoformat(),
        "status": order.status.value,
        "currency": order.total.currency.upper(),
        "total": _decimal(order.total),
        "refunded": _decimal(refunded) if refunded else None,
        "items": [
            {
                "description": item.description,
                "quantity": item.quantity,
                "amount": _decimal(item.amount_total),
            }
            for item in order.items
        ],
    }


def as_csv(orders: Iterable[Order]) -> str:
    """CSV with one row per order; items as ``name x qty`` joined by ``; ``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for order in orders:
        record = order_record(order)
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
