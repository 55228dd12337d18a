"""Stripe's refusals as a shop meets them: the customer gets a clear page, the operator one
log line in Stripe's own words (type, code, message, param, request id), never a key."""

from __future__ import annotations

import logging

from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"


def _stripe_lines(caplog) -> list[logging.LogRecord]:  # type: ignore[no-untyped-def]
    return [r for r in caplog.records if r.name.startswith("portal.stripe")]


def test_a_missing_permission_is_the_unavailable_page_and_a_line_naming_it(
    client, logged_in, stripe_api, caplog
):
    stripe_api.add(checkout_session(ALICE))
    stripe_api.refuse_permission("rak_payment_intent_read")
    caplog.clear()
    response = client.get("/orders")
    assert response.status_code == 503 and response.headers["Retry-After"]
    body = response.get_data(as_text=True)
    assert "temporarily unavailable" in body and "rak_" not in body
    lines = _stripe_lines(caplog)
    assert len(lines) == 2  # one per refused call: the list is asked for two spellings
    for line in lines:
        text = line.getMessage()
        assert line.levelname == "CRITICAL" and "\n" not in text
        assert "lacks the permission rak_payment_intent_read" in text
        assert "GET /v1/checkout/sessions" in text and "request_id=req_test" in text


def test_a_refusal_names_no_part_of_the_key(client, logged_in, stripe_api, caplog):
    stripe_api.refuse_permission("rak_charge_read")
    client.get("/orders")
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "rk_test_…" in text
    assert "1234" not in text and "sk_test_portal" not in text and "****" not in text


def test_a_rejected_request_is_logged_with_type_code_param_and_request_id(
    client, logged_in, stripe_api, caplog
):
    stripe_api.fail_with = 400
    stripe_api.error = {
        "type": "invalid_request_error",
        "code": "parameter_unknown",
        "param": "expand[0]",
        "message": "Received unknown parameter: expand[0]",
    }
    caplog.clear()
    assert client.get("/orders").status_code == 500
    text = _stripe_lines(caplog)[0].getMessage()
    for part in (
        "http=400",
        "type=invalid_request_error",
        "code=parameter_unknown",
        "param=expand[0]",
        "request_id=req_test",
        "message='Received unknown parameter: expand[0]'",
    ):
        assert part in text


def test_an_outage_is_logged_once_per_failed_call(client, logged_in, stripe_api, caplog):
    stripe_api.fail_with = 500
    caplog.clear()
    assert client.get("/orders").status_code == 503
    lines = [r for r in _stripe_lines(caplog) if r.name == "portal.stripe.errors"]
    assert len(lines) == 2  # one per failed call (each spelling), not one per SDK retry
    assert all(r.levelname == "WARNING" and "Stripe unavailable" in r.getMessage() for r in lines)
    assert any("type=api_error" in r.getMessage() for r in lines)
