"""Exports carry the same consumption tax as the order page and the receipt."""

from __future__ import annotations

import csv
import io

from tests.receipts.conftest import taxed_order


def test_json_export_has_the_tax_per_rate_and_its_source(client, logged_in, stripe_api):
    taxed_order(stripe_api)
    record = client.get("/orders.json").json["orders"][0]
    assert record["tax"] == "380"
    assert record["tax_source"] == "stripe"
    assert record["tax_by_rate"] == [
        {"rate": "10", "total": "3300", "tax": "300"},
        {"rate": "8", "total": "1080", "tax": "80"},
    ]


def test_csv_export_has_tax_columns(client, logged_in, stripe_api):
    taxed_order(stripe_api)
    text = client.get("/orders.csv?format=raw").get_data(as_text=True).lstrip("\ufeff")
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["tax"] == "380"
    assert row["tax_by_rate"] == "10%: 300; 8%: 80"
    assert row["tax_source"] == "stripe"
