"""The shop's fulfilment step, for the demo: paid order in, result file in S3 out.

In a real shop this is the shop's own code (a Lambda behind EventBridge, a queue worker).
Here it is a small WSGI app registered as a second webhook endpoint at the Stripe
emulator, so it receives the same signed events the portal does, as two endpoints of one
Stripe account would.

Like any shop's fulfilment, it writes files only for a reference the portal signed for
the session's own Payment Link and checkout email (``portal verify-order-id``, or the
same HMAC in the README): a buyer who pays with someone else's OrderID, bare or signed,
or with a folder name, gets nothing written anywhere.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.wrappers import Response

from portal.order_refs import verified_order_id
from portal.stripe.events import InvalidWebhook, StripeEvent, verify_webhook

log = logging.getLogger(__name__)

PAID_EVENTS = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


def is_paid_checkout(event: StripeEvent) -> bool:
    """Whether the event says an order is now paid (card now, konbini later)."""
    return event.type in PAID_EVENTS and event.payment_status in ("paid", "no_payment_required")


class FulfilmentWorker:
    """Writes ``<prefix>result.txt`` for each paid order after a short delay."""

    def __init__(
        self,
        s3_client: Any,
        *,
        bucket: str,
        prefix_template: str,
        webhook_secret: str,
        order_id_key: bytes,
        delay_seconds: float = 3.0,
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._prefix_template = prefix_template
        self._secret = webhook_secret
        self._key = order_id_key
        self._delay = delay_seconds
        self._timers: list[threading.Timer] = []
        self.written: list[str] = []
        #: Sessions paid with a reference the portal did not sign for them.
        self.refused: list[str] = []
        #: Payment Links whose product this worker cannot make: their orders fail (the
        #: demo's "delayed" state and its alert).
        self.failing_links: set[str] = set()

    def app(self) -> Flask:
        """The webhook endpoint (``POST /events``) to register at the emulator."""
        app = Flask(__name__)
        app.add_url_rule("/events", view_func=self._receive, methods=["POST"])
        return app

    def write_result(self, order_id: str) -> str:
        """Store the order's result file now; returns its key."""
        key = self._prefix_template.format(order_id=order_id) + "result.txt"
        body = f"Result for order {order_id}\nprepared {datetime.now(tz=UTC).isoformat()}\n"
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode())
        self.written.append(key)
        log.info("worker: wrote %s", key)
        return key

    def write_status(self, order_id: str, state: str) -> str:
        """Store the order's status object (``queued``, ``processing``, ``failed``, ``done``)."""
        key = self._prefix_template.format(order_id=order_id) + "_status.json"
        body = {"state": state, "updated_at": datetime.now(tz=UTC).isoformat()}
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=json.dumps(body).encode())
        log.info("worker: %s is %s", order_id, state)
        return key

    def _fulfil(self, order_id: str, payment_link: str | None) -> None:
        if payment_link in self.failing_links:
            self.write_status(order_id, "failed")
            return
        self.write_result(order_id)
        self.write_status(order_id, "done")

    def stop(self) -> None:
        """Cancel results not yet written (on Ctrl-C)."""
        for timer in self._timers:
            timer.cancel()

    def _receive(self) -> tuple[Response, int]:
        try:
            event = verify_webhook(
                request.get_data(), request.headers.get("Stripe-Signature"), [self._secret]
            )
        except InvalidWebhook as exc:
            return jsonify({"error": str(exc)}), 400
        if is_paid_checkout(event):
            order_id = self._order_id(event)
            if order_id is None:
                log.warning(
                    "worker: %s paid with a forged reference: nothing written", event.object_id
                )
                self.refused.append(str(event.object_id))
            else:
                self.write_status(order_id, "processing")
                link = event.payload["data"]["object"].get("payment_link")
                timer = threading.Timer(self._delay, self._fulfil, args=[order_id, link])
                timer.daemon = True
                self._timers.append(timer)
                timer.start()
        return jsonify({"received": True}), 200

    def _order_id(self, event: StripeEvent) -> str | None:
        """The OrderID to write under: only from a reference signed for this session's
        Payment Link and checkout email (the check ``portal verify-order-id`` makes)."""
        session = event.payload["data"]["object"]
        link = session.get("payment_link")
        return verified_order_id(
            event.reference,
            link if isinstance(link, str) else None,
            event.email,
            self._key,
        )
