"""A signed event that is not shaped like Stripe's is refused whole, before it is recorded,
so its retry (or the genuine event with the same id) is still acted on (F15)."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.stripe_fixtures import checkout_session, fixture
from tests.test_webhooks import post, sign


def _event(event_id: str, **changes: object) -> dict:
    body = fixture("event")
    session = checkout_session("alice@example.com", reference="SHAPE-1")
    session.pop("_items")
    body.update(id=event_id, type="checkout.session.completed", data={"object": session})
    body.update(changes)
    return body


def _send(client, body: dict | bytes):  # type: ignore[no-untyped-def]
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    return post(client, payload, sign(payload))


def _with_object(event_id: str, **changes: object) -> dict:
    body = _event(event_id)
    body["data"]["object"].update(changes)
    return body


MALFORMED = {
    "text created": lambda i: _event(i, created="yesterday"),
    "boolean created": lambda i: _event(i, created=True),
    "email a number": lambda i: _with_object(i, customer_details={"email": 42}),
    "details a string": lambda i: _with_object(i, customer_details="alice@example.com"),
    "reference a list": lambda i: _with_object(i, client_reference_id=["KEN-1"]),
    "data a list": lambda i: _event(i, data=[{"object": {}}]),
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
def test_a_malformed_signed_event_is_refused_or_read_safely_and_never_lost(client, caplog, shape):
    event_id = f"evt_shape_{abs(hash(shape)) % 10**8}"
    answer = _send(client, MALFORMED[shape](event_id))
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)[:300]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    if answer.status_code == 400:
        # Refused before anything was recorded: Stripe's genuine delivery still acts.
        retry = _send(client, _event(event_id))
        assert retry.json == {"received": True, "outcome": "invalidated"}


def test_an_event_nested_deeper_than_python_parses_is_a_400(client, caplog):
    payload = b'{"id":"evt_deep","object":"event","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    answer = post(client, payload, sign(payload))
    assert answer.status_code == 400
    assert answer.json == {"error": "body is not JSON"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
