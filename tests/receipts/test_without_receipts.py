"""A shop that has not set up receipts: the documents section still explains Stripe's."""

from __future__ import annotations

import pytest

from portal.settings import Settings
from tests.conftest import with_settings
from tests.receipts.conftest import csrf_token, taxed_order


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(settings, receipt_issuer_name=None)


def test_without_an_issuer_there_is_no_receipt_to_download(client, logged_in, stripe_api):
    session = taxed_order(stripe_api)
    page = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert 'id="documents"' in page
    assert 'name="addressee"' not in page
    assert "Consumption tax ¥380" in page  # Stripe's tax is still shown
    response = client.post(
        f"/orders/{session['id']}/receipt", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 404
