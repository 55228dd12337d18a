"""The benchmark's baseline: the portal's pages built the straightforward way.

No cache and no ``expand``: the order list asks Stripe for the customer's sessions, then
for each one retrieves the session and lists its line items (1 + 2n Stripe calls for n
orders shown), and lists each order's S3 prefix and HEADs every file in it. The detail
page does the same for one order; a download retrieves the session, HEADs the file and
signs a link. Same settings (``PORTAL_*``), same SDKs, same gunicorn config as the portal.

Never deployed: ``GET /login?email=`` logs anyone in without a password, so the baseline
measures the Stripe and S3 pattern, not a login flow.

    gunicorn -c config/gunicorn.conf.py --workers 2 bench.naive:app
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
import stripe
from botocore.exceptions import ClientError
from flask import Flask, abort, redirect, render_template_string, request, session
from werkzeug.wrappers import Response

ORDERS_PER_PAGE = 50

_LIST = """<!doctype html><title>Your orders</title><h1>Your orders</h1>
<table>{% for order in orders %}<tr>
<td><a href="/orders/{{ order.id }}">{{ order.reference }}</a></td>
<td>{{ order.created }}</td><td>{{ order.total }} {{ order.currency }}</td>
<td>{{ order.payment_status }}</td>
<td>{% for item in order['items'] %}{{ item.description }} &times; {{ item.quantity }}<br>
{% endfor %}</td>
<td>{% for file in order.files %}{{ file.name }} ({{ file.size }} bytes)<br>{% endfor %}</td>
</tr>{% endfor %}</table>"""

_DETAIL = """<!doctype html><title>Order {{ order.reference }}</title>
<h1>Order {{ order.reference }}</h1><p>{{ order.total }} {{ order.currency }},
{{ order.payment_status }}</p>
<ul>{% for item in order['items'] %}<li>{{ item.description }} &times; {{ item.quantity }}
</li>{% endfor %}</ul>
<ul>{% for file in order.files %}<li><a href="/orders/{{ order.id }}/files/{{ file.name }}">
{{ file.name }}</a> ({{ file.size }} bytes, {{ file.type }})</li>{% endfor %}</ul>"""


def create_app(env: Mapping[str, str] = os.environ) -> Flask:
    """The baseline app, configured from the portal's own ``PORTAL_*`` variables."""
    app = Flask(__name__)
    app.secret_key = env["PORTAL_SECRET_KEY"]
    client = stripe.StripeClient(
        env["PORTAL_STRIPE_SECRET_KEY"],
        base_addresses={"api": env["PORTAL_STRIPE_API_BASE"]},
        http_client=stripe.RequestsClient(timeout=30),
    )
    s3 = boto3.client("s3", endpoint_url=env.get("PORTAL_S3_ENDPOINT_URL"))
    bucket = env["PORTAL_S3_BUCKET"]

    def folder(reference: str) -> str:
        # The OrderID before the signature, under the portal's default prefix.
        return f"orders/{reference.rpartition('_')[0]}/"

    def files_of(reference: str | None) -> list[dict[str, Any]]:
        if not reference:
            return []
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=folder(reference))
        files = []
        for obj in listed.get("Contents", []):
            head = s3.head_object(Bucket=bucket, Key=obj["Key"])
            files.append(
                {
                    "name": obj["Key"].removeprefix(folder(reference)),
                    "size": head["ContentLength"],
                    "type": head.get("ContentType"),
                }
            )
        return files

    def order(session_id: str) -> dict[str, Any]:
        found = client.v1.checkout.sessions.retrieve(session_id)
        email = session.get("email")
        if found.customer_details is None or found.customer_details.email != email:
            abort(404)
        items = client.v1.checkout.sessions.line_items.list(session_id)
        return {
            "id": found.id,
            "reference": found.client_reference_id,
            "created": found.created,
            "total": found.amount_total,
            "currency": found.currency,
            "payment_status": found.payment_status,
            "items": [
                {"description": item.description, "quantity": item.quantity} for item in items.data
            ],
            "files": files_of(found.client_reference_id),
        }

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @app.get("/login")
    def login() -> str:
        session["email"] = request.args["email"]
        return "logged in"

    @app.get("/orders")
    def index() -> str:
        if "email" not in session:
            abort(401)
        params: Any = {
            "customer_details": {"email": session["email"]},
            "status": "complete",
            "limit": ORDERS_PER_PAGE,
        }
        listed = client.v1.checkout.sessions.list(params=params)
        return render_template_string(_LIST, orders=[order(s.id) for s in listed.data])

    @app.get("/orders/<session_id>")
    def detail(session_id: str) -> str:
        return render_template_string(_DETAIL, order=order(session_id))

    @app.get("/orders/<session_id>/files/<path:name>")
    def download(session_id: str, name: str) -> Response:
        found = client.v1.checkout.sessions.retrieve(session_id)
        details = found.customer_details
        if details is None or details.email != session.get("email"):
            abort(404)
        if found.payment_status != "paid" or not found.client_reference_id:
            abort(404)
        key = folder(found.client_reference_id) + name
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError:
            abort(404)
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300
        )
        return redirect(url, code=302)

    return app


app = create_app()
