"""Money and order rules that hold without a request."""

from datetime import UTC, datetime

import pytest

from portal.domain import Deliverable, Money, Order, OrderStatus


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (5000, "jpy", "¥5,000"),
        (5000, "JPY", "¥5,000"),
        (1999, "usd", "$19.99"),
        (100, "eur", "€1.00"),
        (1234567, "krw", "₩1,234,567"),
        (12345, "kwd", "KWD 12.345"),
        (1000, "chf", "CHF 10.00"),
        (-500, "usd", "-$5.00"),
    ],
)
def test_money_uses_stripes_minor_units(amount, currency, shown):
    assert Money(amount, currency).format() == shown


def _order(email: str) -> Order:
    return Order(
        session_id="cs_test_abc",
        reference=None,
        created=datetime.now(tz=UTC),
        status=OrderStatus.PAID,
        total=Money(1, "usd"),
        email=email,
        items=(),
    )


def test_order_ownership_ignores_case_and_spaces():
    assert _order(" Alice@Example.COM").belongs_to("alice@example.com ")


def test_order_without_email_belongs_to_nobody():
    assert not _order("").belongs_to("")


def test_order_id_falls_back_to_the_session_id():
    assert _order("a@b.c").order_id == "cs_test_abc"


@pytest.mark.parametrize(
    ("size", "label"), [(0, "0 B"), (1023, "1023 B"), (2048, "2.0 KB"), (5 * 1024**3, "5.0 GB")]
)
def test_file_sizes_read_like_a_person_writes_them(size, label):
    assert Deliverable("f", size, datetime.now(tz=UTC)).size_label == label
