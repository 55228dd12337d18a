"""Consumption tax on a receipt: one rounding per rate per document, and a named source."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from portal.domain import ItemTax, LineItem, Money, Order, OrderStatus
from portal.receipts.tax import (
    RateTotal,
    Taxable,
    TaxRates,
    TaxSource,
    order_taxes,
    percent,
    rate_totals,
    tax_inside,
    tax_on_top,
)

TEN, EIGHT = Decimal(10), Decimal(8)


def _order(*items: LineItem, amount_tax: int = 0, currency: str = "jpy") -> Order:
    return Order(
        session_id="cs_test_tax",
        reference="ORDER-1",
        created=datetime(2026, 11, 1, tzinfo=UTC),
        status=OrderStatus.PAID,
        total=Money(sum(i.amount_total.amount for i in items), currency),
        email="alice@example.com",
        items=items,
        amount_tax=amount_tax,
    )


def _item(amount: int, product: str | None = None, *taxes: ItemTax, currency: str = "jpy"):
    return LineItem("Item", 1, Money(amount, currency), product=product, taxes=taxes)


def test_tax_inside_an_inclusive_price_is_cut_to_the_yen():
    assert tax_inside(3300, TEN) == 300
    assert tax_inside(1080, EIGHT) == 80
    assert tax_inside(105, TEN) == 9  # 9.54…


def test_tax_on_an_exclusive_price_is_cut_to_the_yen():
    assert tax_on_top(3000, TEN) == 300
    assert tax_on_top(315, TEN) == 31  # 31.5


def test_inclusive_lines_are_rounded_once_per_rate_not_per_line():
    lines = [Taxable(105, TEN, True) for _ in range(3)]
    # Per line: 9 + 9 + 9 = 27; once for the rate: 315 * 10 / 110 = 28.6… -> 28.
    assert rate_totals(lines) == (RateTotal(TEN, False, 315, 287, 28),)


def test_exclusive_lines_are_rounded_once_per_rate_not_per_line():
    lines = [Taxable(105, TEN, False) for _ in range(3)]
    # Per line: 10 + 10 + 10 = 30; once for the rate: 31.5 -> 31 (国税庁 Q&A 問57).
    assert rate_totals(lines) == (RateTotal(TEN, False, 346, 315, 31),)


def test_mixed_rates_get_one_total_each_highest_rate_first():
    lines = [
        Taxable(1080, EIGHT, True, reduced=True),
        Taxable(3300, TEN, True),
        Taxable(540, EIGHT, True, reduced=True),
    ]
    assert rate_totals(lines) == (
        RateTotal(TEN, False, 3300, 3000, 300),
        RateTotal(EIGHT, True, 1620, 1500, 120),
    )


def test_usd_amounts_are_rounded_to_the_cent():
    assert rate_totals([Taxable(1999, TEN, True)]) == (RateTotal(TEN, False, 1999, 1818, 181),)
    exclusive = [Taxable(1005, EIGHT, False) for _ in range(3)]
    assert rate_totals(exclusive) == (RateTotal(EIGHT, False, 3256, 3015, 241),)


def test_exclusive_tax_stripe_charged_differently_is_kept_and_reported(caplog):
    # Stripe rounded each line (11 + 11 + 11): the buyer paid 33, so the receipt says 33.
    lines = [Taxable(105, TEN, False, charged=11) for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="portal.receipts.tax"):
        totals = rate_totals(lines)
    assert totals == (RateTotal(TEN, False, 348, 315, 33),)
    assert "rounding once per rate gives 31" in caplog.text


def test_stripe_tax_data_is_the_source_when_the_session_has_it():
    tax = ItemTax(TEN, inclusive=True, amount=300, taxable_amount=3000, kind="jct")
    reduced = ItemTax(EIGHT, inclusive=True, amount=80, taxable_amount=1000, kind="jct")
    order = _order(_item(3300, "prod_A", tax), _item(1080, "prod_B", reduced), amount_tax=380)
    summary = order_taxes(order, TaxRates(default=TEN))
    assert summary.source is TaxSource.STRIPE
    assert summary.rates == (
        RateTotal(TEN, False, 3300, 3000, 300),
        RateTotal(EIGHT, True, 1080, 1000, 80),
    )
    assert summary.tax == Money(380, "jpy")


def test_stripe_exclusive_tax_adds_to_the_price():
    tax = ItemTax(TEN, inclusive=False, amount=300, taxable_amount=3000, kind="jct")
    summary = order_taxes(_order(_item(3300, None, tax), amount_tax=300), TaxRates())
    assert summary.rates == (RateTotal(TEN, False, 3300, 3000, 300),)


def test_settings_are_the_source_without_stripe_tax_data_prices_taken_as_inclusive():
    order = _order(_item(3300, "prod_A"), _item(1080, "prod_FOOD"))
    rates = TaxRates(default=TEN, by_product={"prod_FOOD": EIGHT})
    summary = order_taxes(order, rates)
    assert summary.source is TaxSource.SETTINGS
    assert summary.rates == (
        RateTotal(TEN, False, 3300, 3000, 300),
        RateTotal(EIGHT, True, 1080, 1000, 80),
    )


def test_no_rate_for_a_product_means_no_breakdown_rather_than_a_guess():
    order = _order(_item(3300, "prod_A"), _item(1080, "prod_FOOD"))
    summary = order_taxes(order, TaxRates(by_product={"prod_FOOD": EIGHT}))
    assert summary.source is TaxSource.NONE
    assert summary.tax is None


def test_stripe_tax_total_without_line_taxes_is_not_spread_over_rates(caplog):
    with caplog.at_level(logging.WARNING, logger="portal.receipts.tax"):
        summary = order_taxes(_order(_item(3300), amount_tax=300), TaxRates(default=TEN))
    assert summary.source is TaxSource.NONE
    assert "no line-item taxes" in caplog.text


@pytest.mark.parametrize(("rate", "shown"), [("10", "10"), ("8.0", "8"), ("8.875", "8.875")])
def test_rates_print_without_trailing_zeros(rate, shown):
    assert percent(Decimal(rate)) == shown


def test_shipping_is_taxed_like_an_item_at_the_default_rate():
    order = _order(_item(1080, "prod_FOOD"))
    order = Order(**{**order.__dict__, "shipping": _item(550), "total": Money(1630, "jpy")})
    summary = order_taxes(order, TaxRates(default=TEN, by_product={"prod_FOOD": EIGHT}))
    assert summary.rates == (
        RateTotal(TEN, False, 550, 500, 50),
        RateTotal(EIGHT, True, 1080, 1000, 80),
    )
