"""The portal against the Stripe emulator: the customer's journey, every request it makes
held to the pinned API version, and disputes as Stripe reports them.

The portal reads Stripe with raw requests (no SDK method checks their parameters), so a
parameter or an expand path the pinned version does not define would only show at Stripe.
Here the emulator records every request of a whole journey (lists, dated filters, exports,
order pages, a subscription, a receipt, the billing portal, disputes and their webhooks,
``portal check-stripe``, ``portal watch``) and each is checked against stripe-python 16's
definition of that operation (``tests/support/stripe_operations.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import responses
import stripe
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState, parse_params, signature_header
from portal.devstack.stripe_emulator import create_app as create_emulator
from portal.settings import Settings
from portal.stripe import checks
from portal.stripe.client import make_client
from portal.stripe.queries import StripeOrders
from tests.conftest import AuthActions
from tests.receipts.conftest import csrf_token
from tests.support.deliveries import fulfil
from tests.support.stripe_operations import operation_for, request_problems, undefined_requests

KEY = "sk_test_journey1234567890"
HANAKO = "hanako@example.jp"
Emulator = tuple[EmulatorState, str]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    state = EmulatorState()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_in_thread(create_emulator(state, api_key=KEY, public_url=url), port=port):
        yield state, url


@pytest.fixture
def portal_settings(settings: Settings, emulator: Emulator) -> Settings:
    """The test portal on the emulator, issuing receipts."""
    with_receipts = Settings.from_env(
        {
            "PORTAL_SECRET_KEY": settings.secret_key,
            "PORTAL_PUBLIC_URL": settings.public_url,
            "PORTAL_STRIPE_SECRET_KEY": KEY,
            "PORTAL_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secrets[0],
            "PORTAL_OIDC_ISSUER": settings.oidc_issuer,
            "PORTAL_OIDC_CLIENT_ID": settings.oidc_client_id,
            "PORTAL_OIDC_CLIENT_SECRET": settings.oidc_client_secret,
            "PORTAL_S3_BUCKET": settings.s3_bucket,
            "PORTAL_ORDER_ID_KEY": (settings.order_id_key or b"").decode(),
            "PORTAL_DEFAULT_LOCALE": "en",
            "PORTAL_RECEIPT_ISSUER_NAME": "株式会社サンプル商店",
        }
    )
    return replace(with_receipts, stripe_api_base=emulator[1])


@pytest.fixture
def app(portal_settings: Settings, s3: object) -> Flask:
    app = create_app(portal_settings)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def deliver(state: EmulatorState, client: FlaskClient, secret: str, since: int) -> int:
    """POST to the portal, signed, every event the emulator sent from ``since`` on (what
    its webhook endpoint would receive); returns where the next call starts."""
    for sent in state.events[since:]:
        body = json.dumps(sent.event).encode()
        answer = client.post(
            "/webhooks/stripe",
            data=body,
            headers={"Stripe-Signature": signature_header(body, secret)},
            content_type="application/json",
        )
        assert answer.status_code == 200, answer.data
    return len(state.events)


def _detail(client: FlaskClient, session_id: str, language: str = "en") -> str:
    page = client.get(f"/orders/{session_id}", headers={"Accept-Language": language})
    assert page.status_code == 200
    return page.get_data(as_text=True)


# --- every request defined by the pinned version ----------------------------------------


def test_the_request_check_refuses_what_the_pinned_version_does_not_define():
    found = request_problems(
        "GET",
        "/v1/checkout/sessions",
        {
            "customer_details": {"email": "a@example.com", "name": "A"},
            "status": "paid",
            "limit": "ten",
            "sort": "created",
            "expand": ["data.customer_details", "line_items", "data.invoice.subscription"],
        },
    )
    problems = [p.split(": ", 1)[1] for p in found]
    assert "customer_details[name]: not a parameter of this operation" in problems
    assert "status: 'paid' is not one of ['complete', 'expired', 'open']" in problems
    assert "limit: 'ten' is not an integer" in problems
    assert "sort: not a parameter of this operation" in problems
    assert (
        "expand data.customer_details: Session.customer_details is neither expandable nor"
        " includable" in problems
    )
    assert "expand line_items: a list expands only what is under data, not 'line_items'" in problems
    assert "expand data.invoice.subscription: Invoice has no field 'subscription'" in problems
    assert request_problems("GET", "/v1/orders", {}) == [
        "GET /v1/orders: not an operation of the pinned version"
    ]


def test_the_unit_tests_stripe_check_sees_what_the_sdk_sends_in_query_and_body():
    # ``stripe_api`` (tests/conftest.py) runs this on every request each unit test made.
    client = stripe.StripeClient("sk_test_check", max_network_retries=0)
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET, re.compile(r"https://api\.stripe\.com/v1/checkout/sessions.*"), json={}
        )
        mock.add(responses.POST, "https://api.stripe.com/v1/payment_intents/pi_1", json={})
        client.raw_request(
            "get", "/v1/checkout/sessions", limit=3, sort="created", expand=["data.customer"]
        )
        client.raw_request("post", "/v1/payment_intents/pi_1", metadata={"a": "1"}, colour="red")
        found = [p.split(": ", 1)[1] for p in undefined_requests(mock.calls)]
    assert found == [
        "sort: not a parameter of this operation",
        "colour: not a parameter of this operation",
    ]


def test_every_stripe_request_of_a_customers_journey_is_defined_by_the_pinned_version(
    client, auth: AuthActions, emulator, portal_settings
):
    state, url = emulator
    customer = state.add_customer(HANAKO, "山田 花子")
    card = state.add_order(
        HANAKO, client_reference_id="JP-CARD", customer=customer["id"], invoice=True
    )
    state.refund(card["id"], 100)
    state.add_order(HANAKO, payment_method="konbini", payment_status="unpaid")
    state.add_order("Hanako@example.jp", client_reference_id="JP-CAPITAL")
    subscription = state.add_order(HANAKO, mode="subscription", client_reference_id="JP-SUB")
    state.refund(subscription["id"], 100)
    disputed = state.add_order(HANAKO, client_reference_id="JP-DISPUTED")
    state.reset_calls()

    assert auth.login(HANAKO).status_code == 302
    for path in ("/orders", "/orders?from=2020-01-01&to=2039-12-31", "/orders.json"):
        assert client.get(path).status_code == 200, path
    assert client.get("/orders.csv?from=2020-01-01").status_code == 200
    for session_id in list(state.sessions):
        client.get(f"/orders/{session_id}")
    page = _detail(client, card["id"])
    receipt = client.post(
        f"/orders/{card['id']}/receipt",
        data={"csrf_token": csrf_token(page), "addressee": "株式会社テスト", "purpose": ""},
    )
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    page = _detail(client, subscription["id"])
    billing = client.post("/orders/billing", data={"csrf_token": csrf_token(page)})
    assert billing.status_code == 303 and billing.headers["Location"].startswith(url)
    state.dispute(disputed["id"])
    deliver(state, client, portal_settings.stripe_webhook_secrets[0], 0)
    _detail(client, disputed["id"])
    stripe_client = make_client(KEY, url)
    checks.check_permissions(stripe_client)
    checks.portal_findings(stripe_client)
    now = datetime.now(UTC)
    for _ in StripeOrders(stripe_client).orders_created(now - timedelta(days=1), now):
        pass
    StripeOrders(stripe_client).payment_link_id(f"{url}/pay/plink_none")

    recorded = list(state.requests)
    problems = [
        p for m, path, pairs in recorded for p in request_problems(m, path, parse_params(pairs))
    ]
    assert problems == []
    operations = {op.name for m, path, _ in recorded if (op := operation_for(m, path))}
    assert operations >= {
        "SessionService.list",
        "SessionService.retrieve",
        "InvoicePaymentService.list",
        "RefundService.list",
        "DisputeService.list",
        "PaymentIntentService.update",
        "SessionService.create",  # the billing portal's
        "ConfigurationService.list",
        "PaymentLinkService.list",
    }


# --- disputes, as Stripe reports them ---------------------------------------------------


@pytest.fixture
def disputed_order(client, auth: AuthActions, emulator, s3) -> str:
    """Hanako's paid order with its files, seen once before anything happens to it."""
    state, _ = emulator
    session = state.add_order(HANAKO, client_reference_id="JP-DISPUTE", items=[("Scan", 3000, 1)])
    fulfil(s3, session, "result.zip")
    auth.login(HANAKO)
    assert "/files/result.zip" in _detail(client, session["id"])
    return str(session["id"])


def test_an_open_dispute_withholds_the_files_and_the_history_says_so(
    client, emulator, portal_settings, disputed_order
):
    state, _ = emulator
    state.dispute(disputed_order)
    deliver(state, client, portal_settings.stripe_webhook_secrets[0], 0)
    html = _detail(client, disputed_order, "ja")
    assert "お支払いについて確認中" in html and "/files/result.zip" not in html
    assert client.get(f"/orders/{disputed_order}/files/result.zip").status_code == 403


def test_a_won_dispute_gives_the_files_back(client, emulator, portal_settings, disputed_order):
    state, _ = emulator
    secret = portal_settings.stripe_webhook_secrets[0]
    state.dispute(disputed_order)
    seen = deliver(state, client, secret, 0)
    assert "/files/result.zip" not in _detail(client, disputed_order)
    state.dispute(disputed_order, "won")
    deliver(state, client, secret, seen)
    html = _detail(client, disputed_order)
    assert "Payment review completed" in html and "/files/result.zip" in html
    assert client.get(f"/orders/{disputed_order}/files/result.zip").status_code == 302


def test_a_lost_dispute_ends_the_downloads(client, emulator, portal_settings, disputed_order):
    state, _ = emulator
    secret = portal_settings.stripe_webhook_secrets[0]
    state.dispute(disputed_order)
    seen = deliver(state, client, secret, 0)
    state.dispute(disputed_order, "lost")
    deliver(state, client, secret, seen)
    html = _detail(client, disputed_order)
    assert "Payment reversed by the card issuer" in html and "/files/result.zip" not in html
    assert client.get(f"/orders/{disputed_order}/files/result.zip").status_code == 403
