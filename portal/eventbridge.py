"""Forwarding verified Stripe events to an Amazon EventBridge bus (optional).

Shops that route Stripe events to AWS (one EventBridge rule per event type) can point
Stripe at the portal alone: every event the portal verifies is put on the bus.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal.domain import PortalError
from portal.stripe.events import StripeEvent

log = logging.getLogger(__name__)

SOURCE = "order-portal.stripe"


class ForwardingFailed(PortalError):
    """EventBridge did not take the event; Stripe should deliver it again."""


class EventForwarder:
    """Puts each event on one bus with ``DetailType`` = the Stripe event type."""

    def __init__(self, client: Any, bus: str) -> None:
        self._client = client
        self._bus = bus

    @classmethod
    def for_bus(cls, bus: str) -> EventForwarder:
        """A forwarder with its own boto3 client (credentials the standard boto3 way)."""
        config = Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 3})
        return cls(boto3.client("events", config=config), bus)

    def put(self, source: str, detail_type: str, detail: dict[str, Any]) -> None:
        """Put one of the portal's own events on the bus, or raise :class:`ForwardingFailed`."""
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self._bus,
        }
        try:
            answer = self._client.put_events(Entries=[entry])
        except (BotoCoreError, ClientError) as exc:
            log.error("EventBridge put of %s failed: %s", detail_type, type(exc).__name__)
            raise ForwardingFailed(detail_type) from exc
        if answer.get("FailedEntryCount"):
            log.error(
                "EventBridge refused %s: %s", detail_type, answer["Entries"][0].get("ErrorCode")
            )
            raise ForwardingFailed(detail_type)

    def forward(self, event: StripeEvent) -> None:
        """Put the event on the bus, or raise :class:`ForwardingFailed`."""
        entry = {
            "Source": SOURCE,
            "DetailType": event.type,
            "Detail": json.dumps(event.payload, separators=(",", ":")),
            "EventBusName": self._bus,
        }
        try:
            answer = self._client.put_events(Entries=[entry])
        except (BotoCoreError, ClientError) as exc:
            log.error("EventBridge put failed for %s: %s", event.id, type(exc).__name__)
            raise ForwardingFailed(event.id) from exc
        if answer.get("FailedEntryCount"):
            code = answer["Entries"][0].get("ErrorCode")
            log.error("EventBridge refused %s: %s", event.id, code)
            raise ForwardingFailed(event.id)
