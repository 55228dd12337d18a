"""The first issue of a receipt is remembered in Stripe itself: through the Stripe emulator,
with the real SDK, the portal and the emulator's metadata updates shaped like Stripe's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import stripe
from flask import Flask

from portal import create_app
from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState
from portal.devstack.stripe_emulator import create_app as create_emulator
from portal.settings import Settings
from tests.conftest import AuthActions
from tests.receipts.conftest import csrf_token, pdf_text

KEY = "sk_test_emulator1234567890"


@pytest.fixture
def emulator() -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_in_thread(
        create_emulator(state, api_key=KEY, webhook_targets=[], public_url=url), port=port
    ):
        yield state, url


@pytest.fixture
def stripe_client(emulator) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": emulator[1]}, max_network_retries=0)


@pytest.fixture
def app(settings: Settings, s3: object, stripe_api: object, emulator) -> Flask:
    # responses lets loopback through: the portal's Stripe is the emulator here.
    app = create_app(replace(settings, stripe_secret_key=KEY, stripe_api_base=emulator[1]))
    app.config["TESTING"] = True
    return app


def _paid_order(state: EmulatorState, stripe_client: stripe.StripeClient, email: str) -> str:
    session = stripe_client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "customer_email": email,
            "client_reference_id": "ORDER-7",
            "success_url": "http://localhost/orders/return?session_id={CHECKOUT_SESSION_ID}",
            "line_items": [
                {
                    "price_data": {
                        "currency": "jpy",
                        "unit_amount": 3300,
                        "product_data": {"name": "写真集"},
                    },
                    "quantity": 1,
                }
            ],
        }
    )
    state.complete_checkout(session.id, email=email, payment_method="card")
    return session.id


def test_the_emulator_merges_metadata_updates_as_stripe_does(emulator, stripe_client):
    state, _url = emulator
    session_id = _paid_order(state, stripe_client, "alice@example.com")
    intent_id = state.sessions[session_id]["payment_intent"]
    stripe_client.v1.payment_intents.update(intent_id, {"metadata": {"a": "1", "b": "2"}})
    updated = stripe_client.v1.payment_intents.update(intent_id, {"metadata": {"a": "", "c": "3"}})
    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: amount"):
        stripe_client.v1.payment_intents.update(intent_id, {"amount": 1})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.payment_intents.update("pi_missing", {"metadata": {"a": "1"}})
    assert missing.value.http_status == 404


def test_a_second_download_through_stripe_is_marked_reissued(
    client, auth: AuthActions, emulator, stripe_client
):
    state, _url = emulator
    session_id = _paid_order(state, stripe_client, "alice@example.com")
    auth.login("alice@example.com")
    page = client.get(f"/orders/{session_id}").get_data(as_text=True)
    first = client.post(
        f"/orders/{session_id}/receipt",
        data={"csrf_token": csrf_token(page), "addressee": "株式会社テスト", "purpose": ""},
    )
    assert first.status_code == 200
    assert "Reissued" not in pdf_text(first.data)
    intent = state.payment_intents[state.sessions[session_id]["payment_intent"]]
    assert intent["metadata"]["portal_receipt_addressee"] == "株式会社テスト"
    assert intent["metadata"]["portal_receipt_purpose"] == "写真集"

    page = client.get(f"/orders/{session_id}").get_data(as_text=True)
    assert "First issued on" in page
    second = client.post(f"/orders/{session_id}/receipt", data={"csrf_token": csrf_token(page)})
    text = pdf_text(second.data)
    assert "Reissued" in text and "株式会社テスト\n" in text and "For: 写真集" in text
