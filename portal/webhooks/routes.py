"""``POST /webhooks/stripe``: Stripe tells the portal that an order changed."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, jsonify, request
from werkzeug.wrappers import Response

from portal import audit, metrics, rate_limits
from portal.eventbridge import ForwardingFailed
from portal.extensions import csrf
from portal.order_cache import CacheUnavailable
from portal.stripe.events import InvalidWebhook, verify_webhook
from portal.webhooks.handler import EventHandler

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/stripe")
@csrf.exempt
def stripe_webhook() -> tuple[Response, int]:
    """Verify, then act once per event id. Forged input is a 400; our trouble a 503."""
    secrets = current_app.extensions["portal.settings"].stripe_webhook_secrets
    try:
        event = verify_webhook(
            request.get_data(cache=False), request.headers.get("Stripe-Signature"), secrets
        )
    except InvalidWebhook as exc:
        if not exc.signed and rate_limits.webhook_refused():
            abort(429)
        log.warning("webhook refused: %s", exc)
        metrics.WEBHOOKS.labels(outcome="refused").inc()
        audit.record("webhook_refused", reason=str(exc))
        return jsonify({"error": str(exc)}), 400
    handler: EventHandler = current_app.extensions["portal.webhooks"]
    try:
        outcome = handler.handle(event)
    except (ForwardingFailed, CacheUnavailable) as exc:
        # Stripe retries a 5xx; the event was not recorded as handled, so it will act.
        log.error("webhook %s %s not acknowledged: %s", event.type, event.id, exc)
        metrics.WEBHOOKS.labels(outcome="retry_later").inc()
        return jsonify({"error": "try again later"}), 503
    metrics.WEBHOOKS.labels(outcome=outcome).inc()
    return jsonify({"received": True, "outcome": outcome}), 200
