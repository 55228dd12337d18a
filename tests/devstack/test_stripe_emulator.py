"""The Stripe emulator speaks Stripe's wire format, checked through the real SDK."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import requests
import stripe
from flask import Flask, request

from portal.devstack.serving import run_in_thread
from portal.devstack.stripe_emulator import EmulatorState, create_app, parse_params
from tests.support.stripe_fixtures import fixture

KEY = "sk_test_emulator123"
SECRET = "whsec_emulator123"


@pytest.fixture
def received() -> Iterator[tuple[str, list[tuple[bytes, str]]]]:
    """A webhook endpoint that records what it is sent."""
    got: list[tuple[bytes, str]] = []
    app = Flask("receiver")

    @app.post("/hook")
    def hook() -> str:
        got.append((request.get_data(), request.headers["Stripe-Signature"]))
        return "ok"

    with run_in_thread(app) as server:
        yield f"{server.url}/hook", got


@pytest.fixture
def emulator(received) -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState()
    app = create_app(state, api_key=KEY, webhook_targets=[(received[0], SECRET)])
    with run_in_thread(app) as server:
        yield state, server.url


@pytest.fixture
def state(emulator) -> EmulatorState:
    return emulator[0]


@pytest.fixture
def client(emulator) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": emulator[1]}, max_network_retries=0)


def _keys(obj: stripe.StripeObject) -> set[str]:
    return set(obj.to_dict())


def test_sessions_have_the_keys_of_stripes_example(client, state):
    state.add_order("a@example.com")
    session = client.v1.checkout.sessions.list().data[0]
    assert _keys(session) == set(fixture("checkout.session"))
    item = client.v1.checkout.sessions.line_items.list(session.id).data[0]
    assert _keys(item) == set(fixture("item"))
    assert _keys(item.price) == set(fixture("price"))


def test_intents_charges_and_links_have_the_keys_of_stripes_examples(client, state):
    session = state.add_order("a@example.com")
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert _keys(intent) == set(fixture("payment_intent"))
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert _keys(charge) == set(fixture("charge"))
    assert charge.receipt_url.endswith(f"/receipts/{charge.id}")
    link = client.v1.payment_links.create(params=_link_params())
    assert _keys(link) == set(fixture("payment_link"))
    assert _keys(client.v1.payment_links.retrieve(link.id)) == set(fixture("payment_link"))


def test_billing_portal_session_needs_a_known_customer(client, state):
    state.customers["cus_1"] = fixture("customer") | {"id": "cus_1", "email": "a@example.com"}
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": "cus_1", "return_url": "http://portal/orders"}
    )
    assert _keys(portal) == set(fixture("billing_portal.session"))
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing_portal.sessions.create(params={"customer": "cus_nope"})
    found = client.v1.customers.search(params={"query": "email:'a@example.com'"})
    assert [c.id for c in found.data] == ["cus_1"]


def test_paging_250_sessions_loses_none_and_repeats_none(client, state):
    made = {state.add_order("many@example.com")["id"] for _ in range(250)}
    seen: list[str] = []
    params: dict = {"limit": 100}
    while True:
        page = client.v1.checkout.sessions.list(params=params)
        seen.extend(s.id for s in page.data)
        if not page.has_more:
            break
        params["starting_after"] = page.data[-1].id
    assert len(seen) == 250 and set(seen) == made
    newest_first = [state.sessions[i]["created"] for i in seen]
    assert newest_first == sorted(newest_first, reverse=True)
    before = client.v1.checkout.sessions.list(params={"limit": 5, "ending_before": seen[10]})
    assert [s.id for s in before.data] == seen[5:10]


def test_list_filters(client, state):
    a = state.add_order("a@example.com")
    state.add_order("A@example.com")
    expired = state.add_order("a@example.com", status="expired")
    linked = state.add_order("b@example.com", payment_link="plink_1", customer="cus_9")
    sessions = client.v1.checkout.sessions

    def ids(**params) -> set[str]:
        return {s.id for s in sessions.list(params=params).data}

    assert ids(customer_details={"email": "a@example.com"}) == {a["id"], expired["id"]}
    assert ids(customer_details={"email": "a@example.com"}, status="complete") == {a["id"]}
    assert ids(payment_link="plink_1") == {linked["id"]}
    assert ids(customer="cus_9") == {linked["id"]}
    assert ids(created={"gte": linked["created"]}) == {linked["id"]}
    assert ids(created=str(a["created"])) == {a["id"]}
    assert ids(payment_intent=a["payment_intent"]) == {a["id"]}


def test_expansions(client, state):
    session = state.add_order("a@example.com", items=[(f"Item {i}", 100, 1) for i in range(12)])
    listed = client.v1.checkout.sessions.list(
        params={"expand": ["data.line_items", "data.payment_intent.latest_charge"]}
    ).data[0]
    assert len(listed.line_items.data) == 10 and listed.line_items.has_more
    assert listed.payment_intent.latest_charge.receipt_url
    one = client.v1.checkout.sessions.retrieve(session["id"], params={"expand": ["payment_intent"]})
    assert one.payment_intent.id == session["payment_intent"]
    assert isinstance(one.payment_intent.latest_charge, str)
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        client.v1.checkout.sessions.retrieve(session["id"], params={"expand": ["customer.foo"]})


def test_konbini_intent_shows_the_voucher(client, state):
    session = state.add_order("a@example.com", payment_status="unpaid", payment_method="konbini")
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    details = intent.next_action.konbini_display_details
    assert intent.status == "requires_action" and intent.latest_charge is None
    assert details.hosted_voucher_url.endswith(f"/vouchers/{intent.id}")
    assert details.expires_at > intent.created


def test_error_shapes(client, emulator):
    _, url = emulator
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert missing.value.http_status == 404 and missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as bad_limit:
        client.v1.checkout.sessions.list(params={"limit": 101})
    assert bad_limit.value.http_status == 400 and bad_limit.value.param == "limit"
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: colour"):
        client.v1.checkout.sessions.list(params={"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient(
            "sk_test_wrong", base_addresses={"api": url}
        ).v1.checkout.sessions.list()
    no_key = requests.get(f"{url}/v1/checkout/sessions", timeout=5)
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "invalid_request_error"
    unknown = requests.get(f"{url}/v1/foo", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
    assert (
        unknown.status_code == 404
        and "Unrecognized request URL" in unknown.json()["error"]["message"]
    )
    assert unknown.headers["Request-Id"].startswith("req_")


def test_calls_are_counted_and_latency_can_be_injected(client, state):
    state.latency_seconds = 0.05
    client.v1.checkout.sessions.list()
    assert state.calls == [("GET", "/v1/checkout/sessions")]
    state.reset_calls()
    assert state.calls == []


def test_bracket_parameters_parse_into_nested_values():
    parsed = parse_params(
        [
            ("a[b][c]", "1"),
            ("expand[]", "x"),
            ("expand[]", "y"),
            ("items[0][n]", "p"),
            ("items[1][n]", "q"),
        ]
    )
    assert parsed == {
        "a": {"b": {"c": "1"}},
        "expand": ["x", "y"],
        "items": [{"n": "p"}, {"n": "q"}],
    }


# --- the hosted Payment Link page -------------------------------------------------------


def _link_params(
    redirect: str | None = "http://portal.test/orders/return?session_id={CHECKOUT_SESSION_ID}",
) -> dict:
    params: dict = {
        "line_items": [
            {
                "price_data": {
                    "currency": "jpy",
                    "unit_amount": 3000,
                    "product_data": {"name": "Scan"},
                },
                "quantity": 1,
            }
        ]
    }
    if redirect:
        params["after_completion"] = {"type": "redirect", "redirect": {"url": redirect}}
    return params


def _buy(url: str, query: str, **form: str) -> requests.Response:
    page = requests.get(f"{url}?{query}", timeout=5)
    assert page.status_code == 200
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    email = re.search(r'name="email" value="([^"]*)"', page.text)
    data = {**hidden, "email": email.group(1) if email else "", "payment_method": "card", **form}
    return requests.post(url, data=data, allow_redirects=False, timeout=10)


def test_card_payment_creates_a_paid_session_signs_the_event_and_redirects(client, state, received):
    link = client.v1.payment_links.create(params=_link_params())
    answer = _buy(link.url, "client_reference_id=ORDER-42&locked_prefilled_email=a@example.com")
    assert answer.status_code == 303
    session_id = answer.headers["Location"].rsplit("=", 1)[1]
    assert answer.headers["Location"] == f"http://portal.test/orders/return?session_id={session_id}"
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert session.client_reference_id == "ORDER-42"
    assert session.customer_details.email == "a@example.com"
    assert session.payment_link == link.id
    payload, header = received[1][-1]
    event = stripe.Webhook.construct_event(payload, header, SECRET)
    assert event.type == "checkout.session.completed"
    assert json.loads(payload)["data"]["object"]["id"] == session_id


@pytest.mark.parametrize("reference", ["has space", "semi;colon", "x" * 201, "émoji"])
def test_an_invalid_client_reference_id_is_silently_dropped(client, state, reference):
    link = client.v1.payment_links.create(params=_link_params())
    answer = _buy(
        link.url,
        requests.compat.urlencode({"client_reference_id": reference}),
        email="b@example.com",
    )
    session_id = answer.headers["Location"].rsplit("=", 1)[1]
    assert state.sessions[session_id]["client_reference_id"] is None


def test_a_locked_email_cannot_be_changed_by_a_tampered_form(client, state):
    link = client.v1.payment_links.create(params=_link_params())
    answer = _buy(link.url, "locked_prefilled_email=owner@example.com", email="thief@example.com")
    session_id = answer.headers["Location"].rsplit("=", 1)[1]
    assert state.sessions[session_id]["customer_details"]["email"] == "owner@example.com"


def test_a_prefilled_email_can_be_changed_by_the_buyer(client, state):
    link = client.v1.payment_links.create(params=_link_params())
    answer = _buy(link.url, "prefilled_email=first@example.com", email="other@example.com")
    session_id = answer.headers["Location"].rsplit("=", 1)[1]
    assert state.sessions[session_id]["customer_details"]["email"] == "other@example.com"


def test_konbini_shows_the_voucher_and_mark_as_paid_sends_async_success(
    client, state, received, emulator
):
    link = client.v1.payment_links.create(params=_link_params())
    answer = _buy(
        link.url, "client_reference_id=K-1", email="k@example.com", payment_method="konbini"
    )
    assert answer.status_code == 303 and "/vouchers/pi_" in answer.headers["Location"]
    session = next(s for s in state.sessions.values() if s["client_reference_id"] == "K-1")
    assert session["payment_status"] == "unpaid"
    voucher = requests.get(emulator[1] + answer.headers["Location"], timeout=5)
    assert "Mark as paid" in voucher.text
    requests.post(emulator[1] + answer.headers["Location"] + "/pay", timeout=10)
    assert session["payment_status"] == "paid"
    kinds = [stripe.Webhook.construct_event(p, h, SECRET).type for p, h in received[1]]
    assert kinds == ["checkout.session.completed", "checkout.session.async_payment_succeeded"]


def test_a_link_without_redirect_shows_a_thank_you_page(client, state):
    link = client.v1.payment_links.create(params=_link_params(redirect=None))
    answer = _buy(link.url, "", email="c@example.com")
    assert answer.status_code == 200 and "Thanks" in answer.text


def test_an_unknown_payment_link_page_is_404(emulator):
    assert requests.get(f"{emulator[1]}/pay/plink_nope", timeout=5).status_code == 404


def test_a_refund_updates_the_charge_and_sends_charge_refunded(client, state, received):
    session = state.add_order("a@example.com", items=[("Scan", 3000, 1)])
    state.refund(session["id"], 1000)
    intent = client.v1.payment_intents.retrieve(
        session["payment_intent"], params={"expand": ["latest_charge"]}
    )
    assert intent.latest_charge.amount_refunded == 1000 and not intent.latest_charge.refunded
    state.refund(session["id"])
    charge = client.v1.charges.retrieve(intent.latest_charge.id)
    assert charge.amount_refunded == 3000 and charge.refunded
    kinds = [stripe.Webhook.construct_event(p, h, SECRET).type for p, h in received[1]]
    assert kinds == ["charge.refunded", "charge.refunded"]


def test_a_failed_konbini_payment_sends_async_payment_failed(client, state, received):
    session = state.add_order("k@example.com", payment_status="unpaid", payment_method="konbini")
    state.fail_payment(session["id"])
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert intent.status == "requires_payment_method" and intent.last_payment_error
    payload, header = received[1][-1]
    assert stripe.Webhook.construct_event(payload, header, SECRET).type == (
        "checkout.session.async_payment_failed"
    )


def test_invoices_and_refunds_expand_on_a_retrieved_session(client, state):
    customer = state.add_customer("a@example.com")["id"]
    session = state.add_order("a@example.com", customer=customer, invoice=True)
    state.refund(session["id"], 100)
    one = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["invoice", "payment_intent.latest_charge.refunds"]}
    )
    assert _keys(one.invoice) == set(fixture("invoice"))
    assert one.invoice.hosted_invoice_url.endswith(f"/invoices/{one.invoice.id}")
    refund = one.payment_intent.latest_charge.refunds.data[0]
    assert _keys(refund) == set(fixture("refund")) and refund.amount == 100


def test_subscription_sessions_carry_their_subscription(client, state):
    customer = state.add_customer("s@example.com")["id"]
    session = state.add_order("s@example.com", customer=customer, mode="subscription")
    got = client.v1.checkout.sessions.retrieve(session["id"])
    assert got.mode == "subscription" and got.subscription.startswith("sub_")


def test_payment_links_can_be_listed(client, state):
    made = [client.v1.payment_links.create(params=_link_params()).id for _ in range(3)]
    listed = client.v1.payment_links.list(params={"limit": 2})
    assert [link.id for link in listed.data] == made[:2] and listed.has_more
