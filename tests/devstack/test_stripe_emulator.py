"""The Stripe emulator speaks Stripe's wire format: checked through the real SDK.

The shape of every object it sends is checked against the pinned API version in
``tests/devstack/test_emulator_contract.py``; these tests pin its behaviour.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import stripe
from flask import Flask, request

from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState, Endpoint, create_app, parse_params

KEY = "sk_test_emulator1234567890"
SECRET = "whsec_emulator123"
RETURN_URL = "http://portal.test/orders/return?session_id={CHECKOUT_SESSION_ID}"

Json = dict[str, Any]


# --- fixtures --------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook endpoint that records what it is sent and answers as told."""

    url: str = ""
    got: list[tuple[bytes, str]] = field(default_factory=list)
    #: Statuses to answer with, first to last; 200 once they run out.
    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0

    def kinds(self, secret: str = SECRET) -> list[str]:
        """The type of each event received, each checked with ``secret``."""
        return [stripe.Webhook.construct_event(p, h, secret).type for p, h in self.got]

    def app(self) -> Flask:
        app = Flask("receiver")

        @app.post("/hook")
        def hook() -> tuple[str, int]:
            time.sleep(self.delay_seconds)
            self.got.append((request.get_data(), request.headers["Stripe-Signature"]))
            return "ok", self.statuses.pop(0) if self.statuses else 200

        return app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    with run_in_thread(hook.app()) as server:
        hook.url = f"{server.url}/hook"
        yield hook


@dataclass(frozen=True)
class Emulator:
    state: EmulatorState
    url: str


@pytest.fixture
def emulator(receiver: Receiver) -> Iterator[Emulator]:
    state = EmulatorState()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    app = create_app(state, api_key=KEY, webhook_targets=[(receiver.url, SECRET)], public_url=url)
    with run_in_thread(app, port=port):
        yield Emulator(state, url)
        state.wait_for_deliveries()  # no delivery thread outlives its test


@pytest.fixture
def state(emulator: Emulator) -> EmulatorState:
    return emulator.state


@pytest.fixture
def client(emulator: Emulator) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": emulator.url}, max_network_retries=0)


def keys(obj: Any) -> set[str]:
    """Top-level keys of an SDK object or a plain dict."""
    return set(obj.to_dict() if isinstance(obj, stripe.StripeObject) else obj)


def api_get(emulator: Emulator, path: str, **kwargs: Any) -> requests.Response:
    """A raw API call with the right key (for what the SDK would not send)."""
    headers = {"Authorization": f"Bearer {KEY}", **kwargs.pop("headers", {})}
    return requests.get(f"{emulator.url}{path}", headers=headers, timeout=5, **kwargs)


def link_params(redirect: str | None = RETURN_URL, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "line_items": [
            {
                "price_data": {
                    "currency": "jpy",
                    "unit_amount": 3000,
                    "product_data": {"name": "Scan"},
                },
                "quantity": 1,
            }
        ],
        **extra,
    }
    if redirect:
        params["after_completion"] = {"type": "redirect", "redirect": {"url": redirect}}
    return params


def open_page(url: str, **query: str) -> tuple[requests.Response, dict[str, str]]:
    """GET a hosted checkout page; return it and its hidden form fields."""
    page = requests.get(f"{url}?{urlencode(query)}" if query else url, timeout=5)
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    return page, hidden


def buy(url: str, query: dict[str, str] | None = None, **form: str) -> requests.Response:
    """Open a Payment Link page and submit its form as a buyer would (card by default)."""
    page, hidden = open_page(url, **(query or {}))
    assert page.status_code == 200
    shown = re.search(r'name="email" value="([^"]*)"', page.text)
    data = {**hidden, "email": shown.group(1) if shown else "", "payment_method": "card"}
    return requests.post(url, data={**data, **form}, allow_redirects=False, timeout=10)


def session_of(answer: requests.Response) -> str:
    """The session id a card payment's redirect names."""
    return answer.headers["Location"].rsplit("=", 1)[1]


# --- shapes ----------------------------------------------------------------------------


def test_ids_look_like_stripes(client, state):
    session = state.add_order("a@example.com")
    assert re.fullmatch(r"cs_test_[A-Za-z0-9]{58}", session["id"])
    assert session["payment_intent"].startswith("pi_")
    assert state.payment_intents[session["payment_intent"]]["latest_charge"].startswith("ch_")
    assert state.line_items[session["id"]][0]["id"].startswith("li_")
    assert client.v1.payment_links.create(params=link_params()).id.startswith("plink_")


# --- auth and errors -------------------------------------------------------------------


def test_a_request_without_a_key_is_refused_with_stripes_401(emulator):
    answer = requests.get(f"{emulator.url}/v1/checkout/sessions", timeout=5)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith("You did not provide an API key")


def test_a_wrong_key_is_refused_and_quoted_back_masked(emulator):
    wrong = stripe.StripeClient("sk_test_wrongwrongwrong9876", base_addresses={"api": emulator.url})
    with pytest.raises(stripe.AuthenticationError) as refused:
        wrong.v1.checkout.sessions.list()
    message = str(refused.value.user_message)
    assert message.startswith("Invalid API Key provided: sk_test_****")
    assert message.endswith("9876") and "wrongwrong" not in message


def test_basic_auth_with_the_key_as_username_is_accepted(emulator):
    answer = requests.get(f"{emulator.url}/v1/checkout/sessions", auth=(KEY, ""), timeout=5)
    assert answer.status_code == 200


def test_a_missing_object_is_404_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.checkout.sessions.retrieve("cs_test_nope")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing" and missing.value.param == "session"
    assert "No such checkout.session: 'cs_test_nope'" in str(missing.value)
    for call, object_id in [
        (client.v1.payment_intents.retrieve, "pi_nope"),
        (client.v1.charges.retrieve, "ch_nope"),
        (client.v1.customers.retrieve, "cus_nope"),
        (client.v1.payment_links.retrieve, "plink_nope"),
        (client.v1.checkout.sessions.line_items.list, "cs_test_nope"),
    ]:
        with pytest.raises(stripe.InvalidRequestError) as error:
            call(object_id)
        assert error.value.http_status == 404 and error.value.code == "resource_missing"


@pytest.mark.parametrize("limit", [0, 101, "ten"])
def test_a_limit_outside_1_to_100_is_400_on_limit(client, limit):
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.checkout.sessions.list(params={"limit": limit})
    assert bad.value.http_status == 400 and bad.value.param == "limit"


def test_unknown_parameters_are_400_and_named(client):
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: colour"):
        client.v1.checkout.sessions.list(params={"colour": "blue"})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.checkout.sessions.list(params={"customer_details": {"phone": "1"}})  # type: ignore[typeddict-unknown-key]
    assert nested.value.param in ("customer_details[email]", "customer_details[phone]")


def test_an_unknown_url_is_404_unrecognized_with_a_request_id(emulator):
    answer = api_get(emulator, "/v1/foo")
    assert answer.status_code == 404
    assert answer.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/foo)")
    assert answer.headers["Request-Id"].startswith("req_")


def test_every_api_answer_carries_a_request_id(client, state):
    session = state.add_order("a@example.com")
    found = client.v1.checkout.sessions.retrieve(session["id"])
    assert found.last_response is not None
    assert (found.last_response.request_id or "").startswith("req_")
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.charges.retrieve("ch_nope")
    assert (missing.value.request_id or "").startswith("req_")


def test_a_key_used_both_as_a_value_and_a_hash_is_400(emulator):
    answer = api_get(emulator, "/v1/checkout/sessions?created=1&created[gte]=2")
    assert answer.status_code == 400


def test_bracket_parameters_parse_into_nested_values():
    parsed = parse_params(
        [
            ("customer_details[email]", "a@example.com"),
            ("expand[]", "x"),
            ("expand[]", "y"),
            ("also[0]", "p"),
            ("also[1]", "q"),
            ("line_items[0][price_data][product_data][name]", "Scan"),
            ("line_items[1][price]", "price_1"),
            ("created[gte]", "10"),
        ]
    )
    assert parsed == {
        "customer_details": {"email": "a@example.com"},
        "expand": ["x", "y"],
        "also": ["p", "q"],
        "line_items": [{"price_data": {"product_data": {"name": "Scan"}}}, {"price": "price_1"}],
        "created": {"gte": "10"},
    }


# --- lists -----------------------------------------------------------------------------


def test_seeded_sessions_are_created_strictly_in_sequence_and_listed_newest_first(client, state):
    made = [state.add_order("a@example.com")["id"] for _ in range(5)]
    created = [state.sessions[i]["created"] for i in made]
    assert created == sorted(set(created))
    listed = client.v1.checkout.sessions.list()
    assert [s.id for s in listed.data] == made[::-1]
    assert listed.url == "/v1/checkout/sessions" and listed.has_more is False


def test_paging_250_sessions_by_100_loses_none_and_repeats_none(client, state):
    made = {state.add_order("many@example.com")["id"] for _ in range(250)}
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = client.v1.checkout.sessions.list(params=params)
        seen.extend(s.id for s in page.data)
        if not page.has_more:
            break
        params["starting_after"] = page.data[-1].id
    assert len(seen) == 250 and set(seen) == made
    assert [len(seen[:100]), len(seen[100:200]), len(seen[200:])] == [100, 100, 50]


def test_ending_before_pages_back_towards_the_newest(client, state):
    made = [state.add_order("a@example.com")["id"] for _ in range(20)][::-1]  # newest first
    before = client.v1.checkout.sessions.list(params={"limit": 5, "ending_before": made[10]})
    assert [s.id for s in before.data] == made[5:10] and before.has_more
    first = client.v1.checkout.sessions.list(params={"limit": 5, "ending_before": made[3]})
    assert [s.id for s in first.data] == made[:3] and not first.has_more


def test_an_unknown_cursor_is_400_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.checkout.sessions.list(params={"starting_after": "cs_test_gone"})
    assert bad.value.http_status == 400 and bad.value.code == "resource_missing"
    assert bad.value.param == "starting_after"


def test_a_cursor_outside_the_filter_still_places_the_page(client, state):
    a_old = state.add_order("a@example.com")
    b = state.add_order("b@example.com")
    state.add_order("a@example.com")
    page = client.v1.checkout.sessions.list(
        params={"customer_details": {"email": "a@example.com"}, "starting_after": b["id"]}
    )
    assert [s.id for s in page.data] == [a_old["id"]]


# --- filters ---------------------------------------------------------------------------


def test_the_email_filter_is_exact_and_case_sensitive_as_at_stripe(client, state):
    lower = state.add_order("a@example.com")
    state.add_order("A@example.com")
    state.add_order("a@example.com.evil")
    found = client.v1.checkout.sessions.list(
        params={"customer_details": {"email": "a@example.com"}}
    )
    assert [s.id for s in found.data] == [lower["id"]]


@pytest.fixture
def assorted(state: EmulatorState) -> dict[str, Json]:
    """One session of each kind the filters tell apart."""
    return {
        "paid": state.add_order("a@example.com", created=1_700_000_000),
        "expired": state.add_order("a@example.com", status="expired", created=1_700_000_100),
        "open": state.add_order("a@example.com", status="open", created=1_700_000_200),
        "linked": state.add_order(
            "b@example.com", payment_link="plink_1", customer="cus_9", created=1_700_000_300
        ),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "complete"}, {"paid", "linked"}),
        ({"status": "expired"}, {"expired"}),
        ({"status": "open"}, {"open"}),
        ({"customer_details": {"email": "a@example.com"}}, {"paid", "expired"}),
        ({"customer_details": {"email": "a@example.com"}, "status": "complete"}, {"paid"}),
        ({"payment_link": "plink_1"}, {"linked"}),
        ({"customer": "cus_9"}, {"linked"}),
        ({"created": 1_700_000_100}, {"expired"}),
        ({"created": {"gte": 1_700_000_100, "lt": 1_700_000_300}}, {"expired", "open"}),
        ({"created": {"gt": 1_700_000_200}}, {"linked"}),
        ({"created": {"lte": 1_700_000_000}}, {"paid"}),
    ],
)
def test_sessions_can_be_filtered(client, assorted, params, expected):
    found = {s.id for s in client.v1.checkout.sessions.list(params=params).data}
    assert found == {assorted[name]["id"] for name in expected}


def test_sessions_can_be_found_by_payment_intent(client, assorted):
    intent = assorted["paid"]["payment_intent"]
    found = client.v1.checkout.sessions.list(params={"payment_intent": intent}).data
    assert [s.id for s in found] == [assorted["paid"]["id"]]


def test_an_open_session_has_no_customer_details_yet(client, assorted):
    opened = client.v1.checkout.sessions.retrieve(assorted["open"]["id"])
    assert opened.customer_details is None and opened.customer_email == "a@example.com"
    assert opened.url == assorted["open"]["url"] and opened.url.endswith(opened.id)


def test_an_unknown_status_is_400(client):
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.checkout.sessions.list(params={"status": "paid"})  # type: ignore[typeddict-item]
    assert bad.value.param == "status"


# --- expand ----------------------------------------------------------------------------


def test_expanded_line_items_show_the_first_ten_and_say_there_are_more(client, state):
    session = state.add_order("a@example.com", items=[(f"Item {i}", 100, 1) for i in range(12)])
    listed = client.v1.checkout.sessions.list(params={"expand": ["data.line_items"]}).data[0]
    assert [i.description for i in listed.line_items.data] == [f"Item {i}" for i in range(10)]
    assert listed.line_items.has_more
    assert listed.line_items.url == f"/v1/checkout/sessions/{session['id']}/line_items"
    one = client.v1.checkout.sessions.retrieve(session["id"], params={"expand": ["line_items"]})
    assert len(one.line_items.data) == 10


def test_all_line_items_can_be_paged(client, state):
    session = state.add_order("a@example.com", items=[(f"Item {i}", 100, i + 1) for i in range(12)])
    first = client.v1.checkout.sessions.line_items.list(session["id"], params={"limit": 5})
    rest = client.v1.checkout.sessions.line_items.list(
        session["id"], params={"limit": 100, "starting_after": first.data[-1].id}
    )
    names = [i.description for i in first.data + rest.data]
    assert names == [f"Item {i}" for i in range(12)] and first.has_more and not rest.has_more
    last = rest.data[-1]
    assert (last.quantity, last.amount_subtotal, last.amount_total) == (12, 1200, 1200)
    assert last.price.unit_amount == 100 and last.currency == "jpy"


def test_a_payment_intent_is_an_id_unless_expanded(client, state):
    session = state.add_order("a@example.com")
    plain = client.v1.checkout.sessions.retrieve(session["id"])
    assert plain.payment_intent == session["payment_intent"]
    intent_only = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["payment_intent"]}
    )
    assert intent_only.payment_intent.id == session["payment_intent"]
    assert isinstance(intent_only.payment_intent.latest_charge, str)


def test_the_payment_intent_and_its_charge_expand_on_retrieve_and_list(client, state):
    session = state.add_order("a@example.com")
    one = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["payment_intent.latest_charge"]}
    )
    assert one.payment_intent.latest_charge.receipt_url.endswith(
        f"/receipts/{one.payment_intent.latest_charge.id}"
    )
    listed = client.v1.checkout.sessions.list(
        params={"expand": ["data.payment_intent", "data.payment_intent.latest_charge"]}
    ).data[0]
    assert listed.payment_intent.latest_charge.paid is True


def test_line_item_prices_expand_to_their_products(client, state):
    session = state.add_order("a@example.com", items=[("Scan", 3000, 1)])
    item = client.v1.checkout.sessions.line_items.list(
        session["id"], params={"expand": ["data.price.product"]}
    ).data[0]
    assert item.price.product.name == "Scan"


@pytest.mark.parametrize(
    "path", ["foo", "customer.foo", "data.line_items", "payment_intent.nope", "shipping_cost"]
)
def test_a_path_that_cannot_be_expanded_is_400(client, state, path):
    session = state.add_order("a@example.com")
    with pytest.raises(stripe.InvalidRequestError, match=r"cannot be expanded") as bad:
        client.v1.checkout.sessions.retrieve(session["id"], params={"expand": [path]})
    assert bad.value.http_status == 400 and bad.value.param == "expand"


def test_a_list_expands_only_under_data(client):
    with pytest.raises(stripe.InvalidRequestError, match=r"cannot be expanded \(line_items\)"):
        client.v1.checkout.sessions.list(params={"expand": ["line_items"]})


def test_more_than_four_levels_of_expansion_are_refused(client):
    with pytest.raises(stripe.InvalidRequestError, match="more than 4 levels"):
        client.v1.checkout.sessions.list(
            params={"expand": ["data.payment_intent.latest_charge.customer.foo"]}
        )
    four = client.v1.checkout.sessions.list(
        params={"expand": ["data.payment_intent.latest_charge.customer"]}
    )
    assert four.data == []


# --- creating things -------------------------------------------------------------------


def test_a_created_session_is_open_with_its_line_items(client):
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer_email": "a@example.com",
            "client_reference_id": "ORDER-1",
            "success_url": "http://shop.test/done?session_id={CHECKOUT_SESSION_ID}",
            "payment_method_types": ["card", "konbini"],
            "metadata": {"order": "1"},
            **link_params(None),
        }
    )
    assert (session.status, session.payment_status, session.mode) == ("open", "unpaid", "payment")
    assert (session.amount_total, session.amount_subtotal, session.currency) == (3000, 3000, "jpy")
    assert session.customer_email == "a@example.com" and session.customer_details is None
    assert session.client_reference_id == "ORDER-1" and session.metadata.to_dict() == {"order": "1"}
    assert session.payment_method_types == ["card", "konbini"] and session.payment_intent is None
    items = client.v1.checkout.sessions.line_items.list(session.id).data
    assert [(i.description, i.quantity, i.amount_total) for i in items] == [("Scan", 1, 3000)]


def test_a_session_can_sell_a_seeded_price(client, state):
    price = state.add_price("Photo book", 4500, "jpy")
    session = client.v1.checkout.sessions.create(
        params={"mode": "payment", "line_items": [{"price": price["id"], "quantity": 2}]}
    )
    item = client.v1.checkout.sessions.line_items.list(session.id).data[0]
    assert (item.description, item.amount_total, item.price.id) == ("Photo book", 9000, price["id"])


def test_an_unknown_price_is_400_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.checkout.sessions.create(
            params={"mode": "payment", "line_items": [{"price": "price_nope", "quantity": 1}]}
        )
    assert bad.value.http_status == 400 and bad.value.code == "resource_missing"
    assert bad.value.param == "line_items[0][price]"


def test_a_session_needs_line_items_and_a_mode(client):
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: mode"):
        client.v1.checkout.sessions.create(params=link_params(None))  # type: ignore[typeddict-item]
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: line_items"):
        client.v1.checkout.sessions.create(params={"mode": "payment"})


def test_expiring_an_open_session_sends_checkout_session_expired(client, state, receiver):
    opened = client.v1.checkout.sessions.create(params={"mode": "payment", **link_params(None)})
    expired = client.v1.checkout.sessions.expire(opened.id)
    assert (expired.status, expired.url) == ("expired", None)
    with pytest.raises(stripe.InvalidRequestError, match="can be expired"):
        client.v1.checkout.sessions.expire(opened.id)
    assert state.wait_for_deliveries()
    assert receiver.kinds() == ["checkout.session.expired"]


def test_a_payment_link_takes_prices_and_after_completion(client, state):
    price = state.add_price("Print", 300)
    link = client.v1.payment_links.create(
        params={
            "line_items": [{"price": price["id"], "quantity": 3}],
            "after_completion": {"type": "redirect", "redirect": {"url": RETURN_URL}},
            "metadata": {"shop": "demo"},
        }
    )
    assert link.active and link.url.endswith(f"/pay/{link.id}") and link.currency == "jpy"
    assert link.after_completion.redirect.url == RETURN_URL
    assert link.metadata.to_dict() == {"shop": "demo"}
    items = client.v1.payment_links.line_items.list(link.id).data
    assert [(i.description, i.quantity, i.amount_total) for i in items] == [("Print", 3, 900)]


def test_a_payment_link_redirect_needs_a_url(client):
    params = link_params(None, after_completion={"type": "redirect"})
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.payment_links.create(params=params)
    assert bad.value.param == "after_completion[redirect]"


def test_payment_links_are_listed_newest_first(client):
    made = [client.v1.payment_links.create(params=link_params()).id for _ in range(3)]
    listed = client.v1.payment_links.list(params={"limit": 2})
    assert [link.id for link in listed.data] == made[::-1][:2] and listed.has_more
    rest = client.v1.payment_links.list(params={"starting_after": listed.data[-1].id})
    assert [link.id for link in rest.data] == made[:1]


def test_products_and_prices_can_be_created_and_retrieved(client):
    product = client.v1.products.create(params={"name": "Scan"})
    price = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 1999, "product": product.id}
    )
    assert client.v1.prices.retrieve(price.id).unit_amount == 1999
    assert client.v1.products.retrieve(product.id).name == "Scan"
    inline = client.v1.prices.create(
        params={"currency": "usd", "unit_amount": 500, "product_data": {"name": "Mug"}}
    )
    assert client.v1.products.retrieve(inline.product).name == "Mug"
    assert (price.type, price.recurring) == ("one_time", None)


def test_a_retried_post_with_the_same_idempotency_key_creates_one_session(client, state):
    options = {"idempotency_key": "retry-1"}
    params = {"mode": "payment", **link_params(None)}
    first = client.v1.checkout.sessions.create(params=params, options=options)  # type: ignore[arg-type]
    again = client.v1.checkout.sessions.create(params=params, options=options)  # type: ignore[arg-type]
    assert first.id == again.id and len(state.sessions) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.checkout.sessions.create(
            params={**params, "client_reference_id": "other"},
            options=options,  # type: ignore[arg-type]
        )


# --- payments --------------------------------------------------------------------------


def test_a_paid_card_order_has_a_succeeded_intent_and_a_charge_with_a_receipt(client, state):
    session = state.add_order("a@example.com", items=[("Scan", 3000, 2)])
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert (intent.status, intent.amount, intent.amount_received) == ("succeeded", 6000, 6000)
    assert intent.next_action is None
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert charge.paid and charge.captured and charge.amount == 6000
    assert charge.billing_details.email == "a@example.com"
    receipt = requests.get(charge.receipt_url, timeout=5)
    assert receipt.status_code == 200 and "JPY 6,000" in receipt.text


def test_an_unpaid_konbini_order_has_a_voucher_to_pay_within_three_days(client, state):
    session = state.add_order("k@example.com", payment_status="unpaid", payment_method="konbini")
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert (intent.status, intent.latest_charge) == ("requires_action", None)
    assert intent.next_action.type == "konbini_display_details"
    details = intent.next_action.konbini_display_details
    assert details.expires_at == intent.created + 3 * 86400
    assert details.hosted_voucher_url.endswith(f"/vouchers/{intent.id}")
    assert set(details.stores.to_dict()) == {"familymart", "lawson", "ministop", "seicomart"}
    assert "Mark as paid" in requests.get(details.hosted_voucher_url, timeout=5).text


def test_an_unpaid_bank_transfer_order_has_hosted_instructions(client, state):
    session = state.add_order(
        "t@example.com", payment_status="unpaid", payment_method="customer_balance"
    )
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert intent.next_action.type == "display_bank_transfer_instructions"
    url = intent.next_action.display_bank_transfer_instructions.hosted_instructions_url
    assert "Bank transfer instructions" in requests.get(url, timeout=5).text


def test_mark_paid_pays_an_async_order_and_sends_async_payment_succeeded(client, state, receiver):
    session = state.add_order("k@example.com", payment_status="unpaid", payment_method="konbini")
    state.mark_paid(session["id"])
    state.mark_paid(session["id"])  # the money arrives once
    got = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["payment_intent.latest_charge"]}
    )
    assert got.payment_status == "paid" and got.payment_intent.status == "succeeded"
    assert got.payment_intent.latest_charge.payment_method_details.type == "konbini"
    assert receiver.kinds() == ["checkout.session.async_payment_succeeded"]


def test_a_failed_konbini_payment_sends_async_payment_failed(client, state, receiver):
    session = state.add_order("k@example.com", payment_status="unpaid", payment_method="konbini")
    state.fail_payment(session["id"])
    intent = client.v1.payment_intents.retrieve(session["payment_intent"])
    assert intent.status == "requires_payment_method" and intent.last_payment_error
    assert receiver.kinds() == ["checkout.session.async_payment_failed"]


def test_refunds_update_the_charge_and_send_charge_refunded(client, state, receiver):
    session = state.add_order("a@example.com", items=[("Scan", 3000, 1)])
    state.refund(session["id"], 1000)
    one = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["payment_intent.latest_charge.refunds"]}
    )
    charge = one.payment_intent.latest_charge
    assert charge.amount_refunded == 1000 and not charge.refunded
    assert [r.amount for r in charge.refunds.data] == [1000]
    state.refund(session["id"])
    charge = client.v1.charges.retrieve(charge.id)
    assert charge.amount_refunded == 3000 and charge.refunded
    assert receiver.kinds() == ["charge.refunded", "charge.refunded"]


def test_a_dispute_marks_the_charge_disputed_and_is_listed_for_its_payment(client, state, receiver):
    session = state.add_order("a@example.com", items=[("Scan", 3000, 1)])
    opened = state.dispute(session["id"])
    charge = client.v1.charges.retrieve(opened["charge"])
    assert charge.disputed and opened["amount"] == 3000 and opened["status"] == "needs_response"
    listed = client.v1.disputes.list(params={"payment_intent": session["payment_intent"]})
    assert [d.id for d in listed.data] == [opened["id"]]
    assert receiver.kinds() == ["charge.dispute.created", "charge.dispute.funds_withdrawn"]


def test_a_decided_dispute_is_closed_and_the_charge_stays_disputed(client, state, receiver):
    won = state.add_order("a@example.com")
    first = state.dispute(won["id"], "under_review")
    assert state.dispute(won["id"], "won")["id"] == first["id"]
    lost = state.add_order("b@example.com")
    state.dispute(lost["id"], "lost")  # opened and decided at once
    statuses = {d.payment_intent: d.status for d in client.v1.disputes.list().data}
    assert statuses == {won["payment_intent"]: "won", lost["payment_intent"]: "lost"}
    assert all(c["disputed"] for c in state.charges.values())
    assert receiver.kinds() == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
    ]


def test_subscription_sessions_carry_their_subscription(client, state):
    customer = state.add_customer("s@example.com")["id"]
    session = state.add_order("s@example.com", customer=customer, mode="subscription")
    got = client.v1.checkout.sessions.retrieve(session["id"])
    assert got.mode == "subscription" and got.subscription.startswith("sub_")
    assert got.customer == customer


def test_a_subscription_session_has_no_payment_intent_its_invoice_has_the_payment(client, state):
    session = state.add_order("s@example.com", mode="subscription", items=[("Plan", 980, 1)])
    got = client.v1.checkout.sessions.retrieve(
        session["id"], params={"expand": ["invoice.payments"]}
    )
    assert got.payment_intent is None and got.customer.startswith("cus_")
    invoice = got.invoice
    assert invoice.billing_reason == "subscription_create" and invoice.status == "paid"
    assert invoice.parent.subscription_details.subscription == got.subscription
    (payment,) = invoice.payments.data
    assert payment.status == "paid" and payment.amount_paid == 980
    intent = client.v1.payment_intents.retrieve(
        payment.payment.payment_intent, params={"expand": ["latest_charge"]}
    )
    assert intent.status == "succeeded" and intent.latest_charge.receipt_url


def test_includable_fields_come_only_when_expanded(client, state):
    session = state.add_order("s@example.com", mode="subscription")
    state.refund(session["id"], 100)
    plain = client.v1.checkout.sessions.retrieve(session["id"], params={"expand": ["invoice"]})
    assert "payments" not in keys(plain.invoice) and "line_items" not in keys(plain)
    charge_id = state.intent_of(session)["latest_charge"]
    assert "refunds" not in keys(client.v1.charges.retrieve(charge_id))
    listed = client.v1.checkout.sessions.list(
        params={"expand": ["data.payment_intent.latest_charge", "data.line_items"]}
    )
    assert "line_items" in keys(listed.data[0])


def test_invoice_payments_are_found_by_invoice_or_by_payment_intent(client, state):
    session = state.add_order("s@example.com", mode="subscription")
    intent = state.intent_of(session)
    by_invoice = client.v1.invoice_payments.list(
        params={
            "invoice": session["invoice"],
            "expand": ["data.payment.payment_intent.latest_charge"],
        }
    ).data
    assert by_invoice[0].payment.payment_intent.latest_charge.id == intent["latest_charge"]
    by_intent = client.v1.invoice_payments.list(
        params={
            "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
            "expand": ["data.invoice"],
        }
    ).data
    assert [p.invoice.id for p in by_intent] == [session["invoice"]]
    assert not client.v1.invoice_payments.list(params={"invoice": "in_none"}).data


def test_refunding_a_subscription_refunds_its_invoice_payment(client, state, receiver):
    session = state.add_order("s@example.com", mode="subscription", items=[("Plan", 980, 1)])
    charge = state.refund(session["id"])
    assert charge["refunded"] and charge["payment_intent"] == state.intent_of(session)["id"]
    refunds = client.v1.refunds.list(params={"charge": charge["id"]}).data
    assert [r.amount for r in refunds] == [980]
    assert receiver.kinds() == ["charge.refunded"]


def test_an_invoiced_order_links_its_hosted_invoice(client, state):
    customer = state.add_customer("a@example.com")["id"]
    session = state.add_order("a@example.com", customer=customer, invoice=True)
    one = client.v1.checkout.sessions.retrieve(session["id"], params={"expand": ["invoice"]})
    assert one.invoice.status == "paid" and one.invoice.total == one.amount_total
    assert requests.get(one.invoice.hosted_invoice_url, timeout=5).status_code == 200
    pdf = requests.get(one.invoice.invoice_pdf, timeout=5)
    assert pdf.headers["Content-Type"] == "application/pdf"


# --- what real Stripe does wrong (switches) --------------------------------------------


def test_a_restricted_key_gets_stripes_403_naming_the_missing_permission(client, state):
    state.add_order("a@example.com")
    state.faults.restrict_key({"rak_checkout_session_read"})
    assert client.v1.checkout.sessions.list().data
    with pytest.raises(stripe.PermissionError) as refused:
        client.v1.checkout.sessions.list(params={"expand": ["data.payment_intent"]})
    error = refused.value
    assert error.http_status == 403 and error.error.type == "invalid_request_error"
    assert error.error.message == (
        "The provided key 'sk_test_**************7890' does not have the required"
        " permissions for this endpoint on account 'acct_1EmulatorPortal0'. Having the"
        " 'rak_payment_intent_read' permission would allow this request to continue."
    )
    with pytest.raises(stripe.PermissionError, match="rak_customer_portal_write"):
        client.v1.billing_portal.sessions.create(params={"customer": "cus_x"})


def test_a_write_permission_includes_reading(client, state):
    state.faults.restrict_key({"rak_payment_link_write"})
    link = client.v1.payment_links.create(params=link_params())
    assert client.v1.payment_links.retrieve(link.id).id == link.id
    state.faults.restrict_key(None)
    assert client.v1.checkout.sessions.list().object == "list"


@pytest.mark.parametrize("retry_after", [None, 2])
def test_rate_limiting_answers_stripes_429_which_the_sdk_does_not_retry(
    emulator, state, retry_after
):
    retrying = stripe.StripeClient(KEY, base_addresses={"api": emulator.url}, max_network_retries=2)
    state.faults.add("rate_limit", times=1, retry_after=retry_after)
    with pytest.raises(stripe.RateLimitError) as limited:
        retrying.v1.checkout.sessions.list()
    error = limited.value
    assert error.http_status == 429 and error.error.code == "rate_limit"
    assert "Request rate limit exceeded" in error.error.message
    assert error.headers.get("Retry-After") == (str(retry_after) if retry_after else None)
    assert len(state.calls) == 1  # not retried
    assert retrying.v1.checkout.sessions.list().object == "list"  # only once


def test_lock_timeouts_and_server_errors_are_retried_by_the_sdk(emulator, state):
    retrying = stripe.StripeClient(KEY, base_addresses={"api": emulator.url}, max_network_retries=2)
    state.faults.add("lock_timeout", times=1)
    state.faults.add("server_error", times=1)
    assert retrying.v1.checkout.sessions.list().object == "list"
    assert len(state.calls) == 3
    state.faults.add("server_error")
    with pytest.raises(stripe.APIError) as failed:
        retrying.v1.checkout.sessions.list()
    assert failed.value.http_status == 500 and failed.value.error.type == "api_error"


def test_a_hanging_stripe_times_the_client_out(emulator, state):
    impatient = stripe.StripeClient(
        KEY,
        base_addresses={"api": emulator.url},
        http_client=stripe.RequestsClient(timeout=0.2),
    )
    state.faults.add("hang", times=1, seconds=1.0)
    with pytest.raises(stripe.APIConnectionError):
        impatient.v1.checkout.sessions.list()


def test_faults_can_be_limited_to_a_path(client, state):
    state.faults.add("server_error", path="/v1/payment_links")
    assert client.v1.checkout.sessions.list().object == "list"
    with pytest.raises(stripe.APIError):
        client.v1.payment_links.list()
    state.faults.clear()
    assert client.v1.payment_links.list().object == "list"


# --- customers and the billing portal --------------------------------------------------


def test_the_billing_portal_page_links_back_to_the_return_url(client, state):
    customer = state.add_customer("a@example.com")
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer["id"], "return_url": "http://portal.test/orders"}
    )
    assert portal.customer == customer["id"] and portal.return_url == "http://portal.test/orders"
    page = requests.get(portal.url, timeout=5)
    assert portal.url.split("/")[-1].startswith("bps_")
    assert page.status_code == 200 and 'href="http://portal.test/orders"' in page.text


def test_the_billing_portal_needs_a_known_customer(client):
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.billing_portal.sessions.create(params={"customer": "cus_nope"})
    assert unknown.value.code == "resource_missing" and unknown.value.param == "customer"
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: customer"):
        client.v1.billing_portal.sessions.create(params={})  # type: ignore[typeddict-item]


def test_customers_are_found_by_email_search(client, state):
    older = state.add_customer("a@example.com")
    newer = state.add_customer("a@example.com")
    state.add_customer("b@example.com")
    found = client.v1.customers.search(params={"query": "email:'a@example.com'", "limit": 1})
    assert found.object == "search_result" and found.url == "/v1/customers/search"
    assert [c.id for c in found.data] == [newer["id"]] and found.has_more
    rest = client.v1.customers.search(
        params={"query": "email:'a@example.com'", "page": found.next_page}
    )
    assert [c.id for c in rest.data] == [older["id"]] and rest.next_page is None
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search(params={"query": "email~'a'"})


def test_search_matches_an_email_in_any_letter_case(client, state):
    typed = state.add_customer("Hanako@Example.jp")
    found = client.v1.customers.search(params={"query": "email:'hanako@example.jp'"})
    assert [c.id for c in found.data] == [typed["id"]]


def test_a_new_customer_is_not_searchable_until_search_catches_up(client, state):
    state.search_lag_seconds = 60
    new = state.add_customer("late@example.com")
    assert not client.v1.customers.search(params={"query": "email:'late@example.com'"}).data
    assert client.v1.customers.retrieve(new["id"]).id == new["id"]  # the API has it at once


def test_a_portal_never_set_up_is_stripes_400(client, state):
    customer = state.add_customer("a@example.com")
    state.portal_configured = False
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.sessions.create(params={"customer": customer["id"]})
    assert "default configuration has not been created" in refused.value.error.message


def test_a_deleted_customer_has_no_portal(client, state):
    customer = state.add_customer("a@example.com")
    state.delete_customer(customer["id"])
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.billing_portal.sessions.create(params={"customer": customer["id"]})
    assert refused.value.code == "resource_missing" and refused.value.param == "customer"


# --- call log and latency --------------------------------------------------------------


def test_api_calls_are_logged_and_hosted_pages_are_not(client, state, emulator):
    link = client.v1.payment_links.create(params=link_params())
    requests.get(link.url, timeout=5)
    client.v1.checkout.sessions.list(params={"limit": 3})
    assert state.calls == [("POST", "/v1/payment_links"), ("GET", "/v1/checkout/sessions")]
    state.reset_calls()
    assert state.calls == []
    api_get(emulator, "/v1/nothing/here")
    assert state.calls == [("GET", "/v1/nothing/here")]


def test_latency_can_be_injected_at_runtime(client, state):
    state.latency_seconds = 0.2
    started = time.monotonic()
    client.v1.checkout.sessions.list()
    client.v1.checkout.sessions.list()
    assert time.monotonic() - started >= 0.4
    state.latency_seconds = 0.0


# --- the hosted Payment Link page ------------------------------------------------------


def test_opening_a_payment_link_makes_an_open_session_for_it(client):
    link = client.v1.payment_links.create(params=link_params())
    page, hidden = open_page(link.url, client_reference_id="ORDER-7")
    assert page.status_code == 200 and "Scan" in page.text and "JPY 3,000" in page.text
    opened = client.v1.checkout.sessions.list(params={"payment_link": link.id}).data
    assert [s.id for s in opened] == [hidden["session"]]
    assert (opened[0].status, opened[0].client_reference_id) == ("open", "ORDER-7")


@pytest.mark.parametrize("reference", ["ORDER-42", "a_b-C", "x" * 200])
def test_a_valid_client_reference_id_is_kept(client, state, reference):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(link.url, {"client_reference_id": reference}, email="b@example.com")
    assert client.v1.checkout.sessions.retrieve(session_of(answer)).client_reference_id == reference


@pytest.mark.parametrize("reference", ["has space", "semi;colon", "x" * 201, "émoji", "a\nb", ""])
def test_an_invalid_client_reference_id_is_silently_dropped(client, state, reference):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(link.url, {"client_reference_id": reference}, email="b@example.com")
    assert answer.status_code == 303
    assert client.v1.checkout.sessions.retrieve(session_of(answer)).client_reference_id is None


def test_a_locked_email_is_shown_read_only(client):
    link = client.v1.payment_links.create(params=link_params())
    page, _ = open_page(link.url, locked_prefilled_email="owner@example.com")
    field = re.search(r"<input id=\"email\"[^>]*>", page.text)
    assert field and "readonly" in field.group(0) and 'value="owner@example.com"' in field.group(0)


def test_a_locked_email_cannot_be_changed_by_a_tampered_form(client, state):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(
        link.url,
        {"locked_prefilled_email": "owner@example.com", "client_reference_id": "MINE"},
        email="thief@example.com",
        locked_prefilled_email="thief@example.com",
        client_reference_id="THEIRS",
    )
    session = client.v1.checkout.sessions.retrieve(session_of(answer))
    assert session.customer_details.email == "owner@example.com"
    assert session.client_reference_id == "MINE"


def test_a_prefilled_email_can_be_changed_by_the_buyer(client):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(link.url, {"prefilled_email": "first@example.com"}, email="other@example.com")
    session = client.v1.checkout.sessions.retrieve(session_of(answer))
    assert session.customer_details.email == "other@example.com"


def test_an_invalid_email_shows_the_form_again(client):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(link.url, email="not-an-email")
    assert answer.status_code == 400 and 'role="alert"' in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_a_card_payment_redirects_with_the_session_id_and_sends_a_signed_event(
    client, state, receiver
):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(link.url, {"client_reference_id": "ORDER-42"}, email="a@example.com")
    assert answer.status_code == 303
    session_id = session_of(answer)
    assert answer.headers["Location"] == RETURN_URL.replace("{CHECKOUT_SESSION_ID}", session_id)
    session = client.v1.checkout.sessions.retrieve(session_id)
    assert (session.status, session.payment_status, session.url) == ("complete", "paid", None)
    assert session.payment_link == link.id and session.customer_details.email == "a@example.com"
    payload, header = receiver.got[-1]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    event = stripe.Webhook.construct_event(payload, header, SECRET)
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session_id and event.data.object.payment_status == "paid"
    assert state.events[-1].delivered and state.events[-1].results == {receiver.url: "200"}


def test_a_form_submitted_twice_pays_once(client, state, receiver):
    link = client.v1.payment_links.create(params=link_params())
    _, hidden = open_page(link.url)
    form = {**hidden, "email": "a@example.com", "payment_method": "card"}
    first = requests.post(link.url, data=form, allow_redirects=False, timeout=10)
    second = requests.post(link.url, data=form, allow_redirects=False, timeout=10)
    assert first.headers["Location"] == second.headers["Location"]
    assert len(state.payment_intents) == 1 and receiver.kinds() == ["checkout.session.completed"]


def test_konbini_shows_the_voucher_and_mark_as_paid_sends_async_payment_succeeded(
    client, state, receiver, emulator
):
    link = client.v1.payment_links.create(params=link_params())
    answer = buy(link.url, email="k@example.com", payment_method="konbini")
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/vouchers/pi_")
    voucher_url = emulator.url + answer.headers["Location"]
    session = next(s for s in state.sessions.values() if s["status"] == "complete")
    assert session["payment_status"] == "unpaid"
    voucher = requests.get(voucher_url, timeout=5)
    assert "Mark as paid" in voucher.text and "Payment code" in voucher.text
    paid = requests.post(voucher_url + "/pay", timeout=10)
    assert paid.url == voucher_url and "payment has been received" in paid.text
    assert client.v1.checkout.sessions.retrieve(session["id"]).payment_status == "paid"
    assert receiver.kinds() == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]
    first = stripe.Webhook.construct_event(*receiver.got[0], SECRET)
    assert first.data.object.payment_status == "unpaid"


def test_a_link_without_redirect_shows_a_thank_you_page(client):
    link = client.v1.payment_links.create(params=link_params(redirect=None))
    answer = buy(link.url, email="c@example.com")
    assert answer.status_code == 200 and "Thanks" in answer.text


def test_an_api_created_session_is_paid_on_its_own_page_and_returns_to_success_url(client):
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "customer_email": "a@example.com",
            "success_url": "http://shop.test/done?session_id={CHECKOUT_SESSION_ID}",
            **link_params(None),
        }
    )
    page, hidden = open_page(session.url)
    assert "readonly" in page.text
    answer = requests.post(
        session.url, data={**hidden, "payment_method": "card"}, allow_redirects=False, timeout=10
    )
    assert answer.headers["Location"] == f"http://shop.test/done?session_id={session.id}"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"


def test_customer_creation_always_makes_a_customer_at_checkout(client, state):
    link = client.v1.payment_links.create(params=link_params(customer_creation="always"))
    answer = buy(link.url, email="new@example.com")
    session = client.v1.checkout.sessions.retrieve(session_of(answer))
    assert client.v1.customers.retrieve(session.customer).email == "new@example.com"


def test_an_unknown_payment_link_page_is_404(emulator):
    assert requests.get(f"{emulator.url}/pay/plink_nope", timeout=5).status_code == 404


def test_hosted_pages_are_plain_html_with_labelled_controls(client):
    link = client.v1.payment_links.create(params=link_params())
    page, _ = open_page(link.url)
    assert "<script" not in page.text and " style=" not in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert '<label for="email">' in page.text and '<input id="email"' in page.text
    radios = re.findall(r"<label><input type=\"radio\"[^>]*> [^<]+</label>", page.text)
    assert len(radios) == 2 and "<legend>Payment method</legend>" in page.text


# --- webhook delivery ------------------------------------------------------------------


def test_a_slow_webhook_endpoint_does_not_hold_up_the_buyer(client, state, receiver):
    receiver.delay_seconds = 1.0
    state.delivery_wait_seconds = 0.1
    link = client.v1.payment_links.create(params=link_params())
    started = time.monotonic()
    answer = buy(link.url, email="a@example.com")
    assert answer.status_code == 303 and time.monotonic() - started < 0.9
    assert receiver.got == []
    assert state.wait_for_deliveries(5) and receiver.kinds() == ["checkout.session.completed"]


def test_a_failing_webhook_endpoint_is_retried(client, state, receiver):
    receiver.statuses = [500]
    session = state.add_order("a@example.com")
    state.refund(session["id"])
    assert receiver.kinds() == ["charge.refunded", "charge.refunded"]
    assert json.loads(receiver.got[0][0])["id"] == json.loads(receiver.got[1][0])["id"]
    assert state.events[-1].results == {receiver.url: "200"}


def test_every_webhook_endpoint_gets_every_event_signed_with_its_own_secret(receiver):
    other = Receiver()
    with run_in_thread(other.app()) as server:
        other.url = f"{server.url}/hook"
        state = EmulatorState()
        app = create_app(
            state, api_key=KEY, webhook_targets=[(receiver.url, SECRET), (other.url, "whsec_2")]
        )
        with run_in_thread(app):
            session = state.add_order("a@example.com", items=[("Scan", 3000, 1)])
            state.refund(session["id"], 1000)
            state.refund(session["id"])
    assert receiver.kinds() == ["charge.refunded"] * 2
    assert other.kinds("whsec_2") == ["charge.refunded"] * 2
    ids = [json.loads(payload)["id"] for payload, _ in receiver.got]
    assert len(set(ids)) == 2


def test_each_event_carries_its_endpoints_api_version_the_sdks_by_default(receiver):
    older = Receiver()
    with run_in_thread(older.app()) as server:
        older.url = f"{server.url}/hook"
        state = EmulatorState()
        targets = [(receiver.url, SECRET), Endpoint(older.url, "whsec_2", "2025-03-31.basil")]
        with run_in_thread(create_app(state, api_key=KEY, webhook_targets=targets)):
            state.refund(state.add_order("a@example.com")["id"])
            assert state.wait_for_deliveries()
    pinned, basil = json.loads(receiver.got[0][0]), json.loads(older.got[0][0])
    assert pinned["api_version"] == stripe.api_version == "2026-10-28.endive"
    assert basil["api_version"] == "2025-03-31.basil"
    assert pinned["id"] == basil["id"] and pinned["data"] == basil["data"]
    assert older.kinds("whsec_2") == ["charge.refunded"]


def test_events_are_kept_in_order_with_their_delivery(state, receiver):
    first = state.add_order("k@example.com", payment_status="unpaid", payment_method="konbini")
    second = state.add_order("j@example.com", payment_status="unpaid", payment_method="konbini")
    state.mark_paid(first["id"])
    state.fail_payment(second["id"])
    assert state.wait_for_deliveries()
    assert [e.event["type"] for e in state.events] == [
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
    ]
    assert [e.event["data"]["object"]["id"] for e in state.events] == [first["id"], second["id"]]
    assert all(e.delivered for e in state.events)


def test_state_can_be_used_from_many_threads(client, state):
    def seed() -> None:
        for _ in range(20):
            state.add_order("t@example.com")

    threads = [threading.Thread(target=seed) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = [s["created"] for s in state.sessions.values()]
    assert len(created) == len(set(created)) == 100
