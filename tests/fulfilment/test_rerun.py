"""``portal fulfilment rerun``: only paid, unrefunded orders; the bus or the signed endpoint."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from flask import Flask, jsonify, request

from portal.cli import main
from portal.devstack.serving import run_in_thread
from portal.stripe.events import InvalidWebhook, verify_webhook
from tests.fulfilment.shop import order, paid_order

ALICE = "alice.buyer@example.com"
ENDPOINT_SECRET = "whsec_fulfilmentendpoint1"


@pytest.fixture
def queue(environment):  # type: ignore[no-untyped-def]
    """An EventBridge bus whose fulfilment events land in an SQS queue we can read."""
    events = boto3.client("events", region_name="us-east-1")
    events.create_event_bus(Name="shop-bus")
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="reruns")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = json.dumps({"source": ["order-portal.fulfilment"]})
    events.put_rule(Name="reruns", EventBusName="shop-bus", EventPattern=pattern)
    events.put_targets(Rule="reruns", EventBusName="shop-bus", Targets=[{"Id": "q", "Arn": arn}])
    environment.setenv("PORTAL_EVENTBRIDGE_BUS", "shop-bus")
    return url


def _received(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def _order(stripe_api, reference: str, *, refunded: int = 0, status: str = "paid") -> dict:
    if status == "paid":
        return paid_order(stripe_api, reference, amount=5000, amount_refunded=refunded)
    return order(stripe_api, reference, payment_status=status, created=int(time.time()) - 3600)


def test_a_paid_order_is_put_on_the_bus_by_its_order_id(queue, stripe_api, capsys):
    session = _order(stripe_api, "JP-7")
    assert main(["fulfilment", "rerun", "JP-7"]) == 0
    out = capsys.readouterr().out
    assert f"order JP-7 ({session['id']}, paid): fulfilment.rerun put on the EventBridge bus" in out
    (event,) = _received(queue)
    assert event["source"] == "order-portal.fulfilment"
    assert event["detail-type"] == "fulfilment.rerun"
    assert event["detail"]["order_id"] == "JP-7"
    assert event["detail"]["session_id"] == session["id"]


def test_a_session_id_names_the_order_too(queue, stripe_api, capsys):
    session = _order(stripe_api, "JP-8")
    assert main(["fulfilment", "rerun", session["id"]]) == 0
    assert _received(queue)[0]["detail"]["order_id"] == "JP-8"


@pytest.mark.parametrize(
    ("status", "refunded", "why"),
    [("unpaid", 0, "not paid yet"), ("paid", 5000, "was refunded")],
)
def test_an_unpaid_or_refunded_order_is_refused(queue, stripe_api, capsys, status, refunded, why):
    session = _order(stripe_api, "NOPE", status=status, refunded=refunded)
    assert main(["fulfilment", "rerun", session["id"]]) == 1
    assert why in capsys.readouterr().err
    assert _received(queue) == []


def test_a_partly_refunded_order_may_be_rerun(queue, stripe_api):
    session = _order(stripe_api, "PART", refunded=1000)
    assert main(["fulfilment", "rerun", session["id"]]) == 0


def test_an_unknown_order_says_where_it_looked(queue, stripe_api, capsys):
    assert main(["fulfilment", "rerun", "NO-SUCH", "--days", "3"]) == 1
    assert "no order NO-SUCH in the last 3 days" in capsys.readouterr().err


def test_without_a_bus_the_paid_event_is_sent_again_signed(environment, stripe_api, capsys):
    received: list[dict] = []
    endpoint = Flask(__name__)

    @endpoint.post("/events")
    def events():  # type: ignore[no-untyped-def]
        try:
            event = verify_webhook(
                request.get_data(), request.headers.get("Stripe-Signature"), [ENDPOINT_SECRET]
            )
        except InvalidWebhook as exc:
            return jsonify({"error": str(exc)}), 400
        received.append(event.payload)
        return jsonify({"received": True})

    session = _order(stripe_api, "RESEND-1")
    with run_in_thread(endpoint) as running:
        environment.setenv("PORTAL_FULFILMENT_ENDPOINT", f"{running.url}/events")
        environment.setenv("PORTAL_FULFILMENT_ENDPOINT_SECRET", ENDPOINT_SECRET)
        assert main(["fulfilment", "rerun", "RESEND-1"]) == 0
    (event,) = received
    assert event["type"] == "checkout.session.completed" and event["portal_rerun"] is True
    assert event["id"].startswith("evt_rerun_")
    assert event["data"]["object"]["id"] == session["id"]
    assert event["data"]["object"]["client_reference_id"].startswith("RESEND-1_")
    assert "paid event sent again to the fulfilment endpoint" in capsys.readouterr().out


def test_with_neither_bus_nor_endpoint_it_says_what_to_set(environment, stripe_api, capsys):
    session = _order(stripe_api, "NOWHERE")
    assert main(["fulfilment", "rerun", session["id"]]) == 1
    assert "set PORTAL_EVENTBRIDGE_BUS or PORTAL_FULFILMENT_ENDPOINT" in capsys.readouterr().err
