"""``portal lookup``: what a customer sees, for the shop's support staff."""

from __future__ import annotations

import time

from portal.cli import main
from portal.order_numbers import derived_number
from tests.fulfilment.shop import ALICE, order, put_file, put_status


def test_lookup_by_email_shows_each_order_with_files_status_and_stage(
    environment,
    stripe_api,
    s3,
    capsys,
):
    now = int(time.time())
    order(stripe_api, "LK-1", created=now - 3600)
    order(stripe_api, "LK-2", created=now - 1800)
    order(stripe_api, "LK-3", created=now - 600, payment_status="unpaid")
    put_file(s3, "LK-1")
    put_status(s3, "LK-2", state="failed")
    assert main(["lookup", ALICE]) == 0
    out = capsys.readouterr().out
    first = out.split("Order LK-1", 1)[1].split("Order ", 1)[0]
    assert "files:      result.txt  (under LK-1)" in first and "buyer sees: ready" in first
    second = out.split("Order LK-2", 1)[1].split("Order ", 1)[0]
    assert "status obj: failed" in second and "buyer sees: delayed (failed)" in second
    assert "not shown until paid" in out.split("Order LK-3", 1)[1]
    assert out.strip().endswith("3 orders; cost: 1 Stripe calls, 2 S3 listings")


def test_lookup_by_order_id_and_its_alerts(environment, stripe_api, s3, capsys):
    order(stripe_api, "LK-9", created=int(time.time()) - 30 * 3600)
    assert main(["watch"]) == 0
    capsys.readouterr()
    assert main(["lookup", "LK-9"]) == 0
    out = capsys.readouterr().out
    assert "buyer sees: delayed (overdue)" in out
    assert "alerts sent: fulfilment_overdue" in out


def test_lookup_by_the_order_number_the_buyer_reads_out(environment, stripe_api, s3, capsys):
    """A portal-minted OrderID is a UUID; the buyer quotes its 12-digit 注文番号, typed
    any way (without hyphens, with spaces, in full-width digits)."""
    minted = "216e5820-c1b7-4f0e-9d3a-5b2c1e0f7a41"
    order(stripe_api, minted, created=int(time.time()) - 600)
    number = derived_number(minted)
    for typed in (number, number.replace("-", ""), number.replace("-", " "), _full_width(number)):
        assert main(["lookup", typed]) == 0, typed
        assert f"Order {number}" in capsys.readouterr().out


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else "ー" for c in text)


def test_lookup_of_nothing_says_so(environment, stripe_api, capsys):
    assert main(["lookup", "nobody@example.com"]) == 1
    assert "no orders for nobody@example.com" in capsys.readouterr().err
