"""``POST /webhooks/stripe`` takes only genuine, fresh Stripe events."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from portal import create_app
from tests.conftest import with_settings
from tests.support.stripe_fixtures import checkout_session, fixture

SECRET = "whsec_test123"


def sign(payload: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header made the way Stripe makes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(kind: str = "checkout.session.completed", **session_changes: object) -> bytes:
    body = fixture("event")
    session = checkout_session("alice@example.com", reference="WH-1")
    session.pop("_items")
    session.update(session_changes)
    body.update(id=f"evt_{session['id'][-20:]}", type=kind, data={"object": session})
    return json.dumps(body).encode()


def post(client, payload: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post("/webhooks/stripe", data=payload, headers=headers)


def test_a_signed_event_is_acknowledged(client):
    payload = event()
    response = post(client, payload, sign(payload))
    assert response.status_code == 200
    assert response.json == {"received": True, "outcome": "invalidated"}


@pytest.mark.parametrize(
    ("case", "signature"),
    [
        ("missing", None),
        ("empty", ""),
        ("garbage", "not a signature"),
        ("wrong secret", "WRONG"),
        ("stale", "STALE"),
        ("future", "FUTURE"),
    ],
)
def test_a_bad_signature_is_a_400_json_error(client, case, signature):
    payload = event()
    if signature == "WRONG":
        signature = sign(payload, secret="whsec_someone_else")
    elif signature == "STALE":
        signature = sign(payload, timestamp=int(time.time()) - 301)
    elif signature == "FUTURE":
        signature = sign(payload, timestamp=int(time.time()) + 3600)
    response = post(client, payload, signature)
    assert response.status_code == 400, case
    assert "error" in response.json


def test_a_tampered_body_is_refused(client):
    payload = event()
    signature = sign(payload)
    assert post(client, payload.replace(b"WH-1", b"WH-2"), signature).status_code == 400


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"object": "list"}', b"\xff\xfe"])
def test_a_signed_body_that_is_not_an_event_is_a_400(client, payload):
    assert post(client, payload, sign(payload)).status_code == 400


def test_either_secret_verifies_during_a_rotation(settings, s3, stripe_api):
    rotated = with_settings(settings, stripe_webhook_secrets=("whsec_old", "whsec_new"))
    client = create_app(rotated).test_client()
    payload = event()
    assert post(client, payload, sign(payload, "whsec_old")).status_code == 200
    assert post(client, payload, sign(payload, "whsec_new")).status_code == 200
    assert post(client, payload, sign(payload, SECRET)).status_code == 400


def test_other_methods_are_405(client):
    assert client.get("/webhooks/stripe").status_code == 405
    assert client.put("/webhooks/stripe").status_code == 405


def test_a_body_over_one_mebibyte_is_413(client):
    payload = b"{" + b" " * (1024 * 1024) + b"}"
    assert post(client, payload, sign(payload)).status_code == 413


def test_the_webhook_needs_no_csrf_token_or_login(client):
    payload = event("charge.refunded")
    assert post(client, payload, sign(payload)).status_code == 200
