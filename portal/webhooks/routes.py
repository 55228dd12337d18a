"""``POST /webhooks/stripe``: Stripe tells the portal that an order changed."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, request
from werkzeug.wrappers import Response

from portal.extensions import csrf
from portal.stripe_orders import InvalidWebhook, verify_webhook

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/stripe")
@csrf.exempt
def stripe_webhook() -> tuple[Response, int]:
    """Verify the event's signature and acknowledge it; anything forged is a 400."""
    secrets = current_app.extensions["portal.settings"].stripe_webhook_secrets
    try:
        event = verify_webhook(
            request.get_data(cache=False), request.headers.get("Stripe-Signature"), secrets
        )
    except InvalidWebhook as exc:
        log.warning("webhook refused: %s", exc)
        return jsonify({"error": str(exc)}), 400
    log.info("webhook %s %s", event.type, event.id)
    return jsonify({"received": True}), 200
