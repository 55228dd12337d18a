"""When files may be downloaded: never on a copy kept through a Stripe outage, never while
the payment is disputed (unless the shop keeps them), never once the issuer took it back."""

from __future__ import annotations

import json

import pytest

from portal import create_app
from tests.conftest import AuthActions, with_settings
from tests.support.deliveries import fulfil
from tests.support.stripe_fixtures import charge, checkout_session, fixture, payment_intent
from tests.test_order_cache import deliver

ALICE = "alice@example.com"


def _paid_order(stripe_api, s3, reference: str, **charge_changes) -> dict:  # type: ignore[no-untyped-def]
    intent = payment_intent(charge=charge() | charge_changes)
    session = checkout_session(ALICE, reference=reference)
    session["payment_intent"] = intent["id"]
    session["_intent"] = intent
    stripe_api.add(session)
    fulfil(s3, session, "result.zip")
    return session


def _refund_event(payment_intent: str) -> bytes:
    refunded = fixture("charge") | {"payment_intent": payment_intent, "refunded": True}
    body = fixture("event") | {"id": f"evt_refund_{payment_intent}", "type": "charge.refunded"}
    body["data"] = {"object": refunded}
    return json.dumps(body).encode()


# --- F5: outages --------------------------------------------------------------------------


def test_during_an_outage_a_refunded_orders_files_do_not_download(
    client, logged_in, stripe_api, s3
):
    session = _paid_order(stripe_api, s3, "REFUNDED-IN-OUTAGE")
    assert "result.zip" in client.get(f"/orders/{session['id']}").get_data(as_text=True)
    # Stripe refunds it, says so by webhook, then stops answering.
    session["_intent"]["latest_charge"].update(amount_refunded=5000, refunded=True)
    assert deliver(client, _refund_event(session["payment_intent"])).status_code == 200
    stripe_api.fail_with = 500
    page = client.get(f"/orders/{session['id']}")
    assert page.status_code == 200  # shown, from the copy, with its notice:
    assert "This is how your orders looked" in page.get_data(as_text=True)
    download = client.get(f"/orders/{session['id']}/files/result.zip")
    assert download.status_code == 503 and download.headers["Retry-After"]
    assert "cannot reach our payment provider" in download.get_data(as_text=True)


def test_a_copy_past_its_freshness_never_authorises_a_download(settings, s3, stripe_api, idp_url):
    app = create_app(with_settings(settings, cache_ttl_seconds=0))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    session = _paid_order(stripe_api, s3, "STALE-COPY")
    assert client.get(f"/orders/{session['id']}").status_code == 200
    stripe_api.unreachable = True
    assert client.get(f"/orders/{session['id']}").status_code == 200  # the kept copy
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 503


def test_a_fresh_invalidated_order_is_read_again_before_a_download(
    client, logged_in, stripe_api, s3
):
    session = _paid_order(stripe_api, s3, "READ-AGAIN")
    client.get(f"/orders/{session['id']}")
    deliver(client, _refund_event(session["payment_intent"]))
    calls = stripe_api.call_count
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302
    assert stripe_api.call_count > calls


# --- F20: disputes ------------------------------------------------------------------------


def _disputes(session: dict, *statuses: str) -> None:
    """The session's charge was disputed; Stripe lists these disputes for its intent."""
    session["_intent"]["latest_charge"]["_disputes"] = [
        fixture("dispute") | {"id": f"dp_{n}", "status": s, "created": 1_767_300_000 + n}
        for n, s in enumerate(statuses)
    ]


@pytest.mark.parametrize("status", ["needs_response", "under_review", "warning_needs_response"])
def test_an_open_dispute_withholds_the_files_and_says_so(client, logged_in, stripe_api, s3, status):
    session = _paid_order(stripe_api, s3, "DISPUTED", disputed=True)
    _disputes(session, status)
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Payment disputed" in html
    assert "confirming this payment with your card issuer" in html
    assert "/files/result.zip" not in html
    download = client.get(f"/orders/{session['id']}/files/result.zip")
    assert download.status_code == 403 and "being reviewed" in download.get_data(as_text=True)


def test_the_timeline_says_it_in_japanese(client, logged_in, stripe_api, s3):
    session = _paid_order(stripe_api, s3, "DISPUTED-JA", disputed=True)
    _disputes(session, "needs_response")
    html = client.get(f"/orders/{session['id']}", headers={"Accept-Language": "ja"})
    assert "お支払いについて確認中" in html.get_data(as_text=True)


def test_a_won_dispute_gives_the_files_back(client, logged_in, stripe_api, s3):
    session = _paid_order(stripe_api, s3, "DISPUTE-WON", disputed=True)
    _disputes(session, "won")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Payment review completed" in html and "/files/result.zip" in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302


def test_a_lost_dispute_ends_the_downloads(client, logged_in, stripe_api, s3):
    session = _paid_order(stripe_api, s3, "DISPUTE-LOST", disputed=True)
    _disputes(session, "needs_response", "lost")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Payment reversed by the card issuer" in html and "took this payment back" in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 403


def test_a_shop_may_keep_files_during_a_dispute(settings, s3, stripe_api, idp_url):
    app = create_app(with_settings(settings, disputed_orders_keep_files=True))
    client = app.test_client()
    AuthActions(client, idp_url).login(ALICE)
    session = _paid_order(stripe_api, s3, "KEPT-DISPUTED", disputed=True)
    _disputes(session, "needs_response")
    html = client.get(f"/orders/{session['id']}").get_data(as_text=True)
    assert "Payment disputed" in html and "/files/result.zip" in html
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 302


def test_a_key_that_may_not_read_disputes_keeps_the_files_withheld(
    client, logged_in, stripe_api, s3
):
    session = _paid_order(stripe_api, s3, "NO-DISPUTE-READ", disputed=True)
    for answer in stripe_api.mock.registered():
        if "disputes" in str(answer.url):
            stripe_api.mock.remove(answer)
    stripe_api.mock.get(
        "https://api.stripe.com/v1/disputes",
        status=403,
        json={"error": {"type": "invalid_request_error", "message": "rak_dispute_read"}},
    )
    page = client.get(f"/orders/{session['id']}")
    assert page.status_code == 200 and "Payment disputed" in page.get_data(as_text=True)
    assert client.get(f"/orders/{session['id']}/files/result.zip").status_code == 403


def test_the_order_list_reads_no_disputes(client, logged_in, stripe_api, s3):
    _paid_order(stripe_api, s3, "LISTED-DISPUTED", disputed=True)
    client.get("/orders")
    assert not [c for c in stripe_api.mock.calls if "/v1/disputes" in c.request.url]
