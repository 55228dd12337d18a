"""The JSON the waiting order page polls: owner-only, no Stripe call, one S3 listing."""

from __future__ import annotations

import time

import pytest

from tests.conftest import BUCKET, with_settings
from tests.fulfilment.shop import put_file, put_status
from tests.support.deliveries import signed
from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    # No TTL at all: any poll that reached Stripe would show in the call count.
    return with_settings(settings, cache_ttl_seconds=0)


@pytest.fixture
def s3_calls(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The S3 operations the portal makes, as botocore sends them."""
    calls: list[str] = []
    client = app.extensions["portal.orders"]._deliverables._client
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    return calls


def _fresh(reference: str, **fields: object) -> dict:
    """An order placed (and paid) just now, signed for Alice (add it to Stripe)."""
    return signed(checkout_session(ALICE, reference=reference, created=int(time.time()), **fields))


def _poll(client, session, language: str = "en"):  # type: ignore[no-untyped-def]
    return client.get(
        f"/orders/{session['id']}/fulfilment.json",
        headers={"Accept": "application/json", "Accept-Language": language},
    )


def test_polling_needs_a_login_and_answers_json(client, stripe_api):
    session = checkout_session(ALICE, reference="ANON")
    stripe_api.add(session)
    response = _poll(client, session)
    assert response.status_code == 401 and response.is_json


def test_another_customers_order_is_not_found(client, logged_in, stripe_api):
    session = checkout_session("mallory@example.com", reference="NOT-YOURS")
    stripe_api.add(session)
    response = _poll(client, session)
    assert response.status_code == 404 and response.is_json


def test_a_poll_says_preparing_until_the_file_appears_then_ready(client, logged_in, stripe_api, s3):
    session = _fresh("POLLED")
    stripe_api.add(session)
    first = _poll(client, session, "ja").get_json()
    assert first["stage"] == "preparing" and first["finished"] is False
    assert "ファイルを準備しています。" in first["html"]
    put_file(s3, "POLLED")
    ready = _poll(client, session, "ja").get_json()
    assert ready["stage"] == "ready" and ready["finished"] is True
    assert ready["announcement"] == "ファイルの準備ができました。"


def test_polls_cost_no_stripe_call_and_one_s3_listing_each(
    client, logged_in, stripe_api, s3, s3_calls
):
    session = _fresh("CHEAP")
    stripe_api.add(session)
    client.get(f"/orders/{session['id']}")
    assert stripe_api.call_count == 1
    s3_calls.clear()
    for _ in range(5):
        assert _poll(client, session).get_json()["stage"] == "preparing"
    assert stripe_api.call_count == 1
    assert s3_calls == ["ListObjectsV2"] * 5


def test_a_status_object_is_read_once_until_it_changes(client, logged_in, stripe_api, s3, s3_calls):
    session = _fresh("STATUS")
    stripe_api.add(session)
    put_status(s3, "STATUS", state="processing")
    for _ in range(3):
        _poll(client, session)
    assert s3_calls.count("GetObject") == 1
    put_status(s3, "STATUS", state="failed")
    assert _poll(client, session).get_json()["stage"] == "delayed"
    assert s3_calls.count("GetObject") == 2


def test_when_s3_does_not_answer_the_page_keeps_asking(client, logged_in, stripe_api, s3):
    session = _fresh("NOS3")
    stripe_api.add(session)
    s3.delete_bucket(Bucket=BUCKET)
    answer = _poll(client, session)
    assert answer.status_code == 200
    assert answer.get_json() == {"stage": "unknown", "finished": False}


def test_an_order_that_gets_no_files_stops_the_polling(client, logged_in, stripe_api):
    session = _fresh("UNPAID", payment_status="unpaid")
    stripe_api.add(session)
    assert _poll(client, session).get_json() == {"stage": "unknown", "finished": True}
