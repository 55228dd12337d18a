"""A shop that issues receipts, an order with Stripe tax data, and a buyer who downloads."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

import pypdf
import pytest
import responses

from portal.settings import Settings
from tests.conftest import with_settings
from tests.support.stripe_fixtures import (
    charge,
    checkout_session,
    line_item,
    payment_intent,
    tax_rate,
    taxed,
)
from tests.support.stripe_stub import API, StripeStub

ISSUER = "株式会社サンプル商店"
ADDRESS = "東京都千代田区千代田1-1"
NUMBER = "T7010705000725"  # 日本税理士会連合会's 法人番号, a real and valid one
#: 2026-10-31 15:30 UTC: already November 1st in Tokyo.
PAID_AT = 1793460600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return with_settings(
        Settings.from_env(
            {
                "PORTAL_SECRET_KEY": settings.secret_key,
                "PORTAL_PUBLIC_URL": settings.public_url,
                "PORTAL_STRIPE_SECRET_KEY": settings.stripe_secret_key,
                "PORTAL_STRIPE_WEBHOOK_SECRET": settings.stripe_webhook_secrets[0],
                "PORTAL_OIDC_ISSUER": settings.oidc_issuer,
                "PORTAL_OIDC_CLIENT_ID": settings.oidc_client_id,
                "PORTAL_OIDC_CLIENT_SECRET": settings.oidc_client_secret,
                "PORTAL_S3_BUCKET": settings.s3_bucket,
                "PORTAL_ORDER_ID_KEY": (settings.order_id_key or b"").decode(),
                "PORTAL_DEFAULT_LOCALE": "en",
                "PORTAL_RECEIPT_ISSUER_NAME": ISSUER,
                "PORTAL_RECEIPT_ISSUER_ADDRESS": ADDRESS,
                "PORTAL_RECEIPT_REGISTRATION_NUMBER": NUMBER,
            }
        )
    )


class PaymentIntents:
    """``POST /v1/payment_intents/<id>`` on the intents of the stub's sessions, as Stripe
    answers it: metadata merged key by key; or a 403 for a key without the permission."""

    def __init__(self, stub: StripeStub) -> None:
        self.stub = stub
        self.writes: list[dict[str, str]] = []
        self.refuse = False
        stub.mock.add_callback(
            responses.POST,
            re.compile(re.escape(API) + r"/v1/payment_intents/[^/?]+$"),
            self._update,
        )

    def _update(self, request: Any) -> tuple[int, dict[str, str], str]:
        intent_id = request.url.rsplit("/", 1)[-1]
        headers = {"Request-Id": "req_update", "Content-Type": "application/json"}
        if self.refuse:
            error = {
                "type": "invalid_request_error",
                "message": "The provided key 'rk_test_***1234' does not have the required"
                " permissions for this endpoint on account 'acct_1'. Having the"
                " 'rak_payment_intent_write' permission would allow this request to continue.",
            }
            return 403, headers, json.dumps({"error": error})
        fields = dict(parse_qsl(request.body or ""))
        metadata = {
            k[len("metadata[") : -1]: v for k, v in fields.items() if k.startswith("metadata[")
        }
        intent = next(
            s["_intent"] for s in self.stub.sessions if s.get("_intent", {}).get("id") == intent_id
        )
        intent["metadata"].update(metadata)
        self.writes.append(metadata)
        return 200, headers, json.dumps(intent)


@pytest.fixture
def intents(stripe_api: StripeStub) -> PaymentIntents:
    return PaymentIntents(stripe_api)


def taxed_order(stripe_api: StripeStub, email: str = "alice@example.com", *, refunded: int = 0):
    """A paid order: a book at 10 % and sweets at the reduced 8 %, tax-inclusive."""
    book = taxed(line_item("写真集", 1650, 2), tax_rate(10))
    sweets = taxed(line_item("焼き菓子セット", 1080), tax_rate(8), reason="reduced_rated")
    session = checkout_session(email, reference="ORDER-42", amount=4380, items=[book, sweets])
    session["total_details"]["amount_tax"] = 380
    paid = charge(amount=4380, refunded=refunded)
    paid["created"] = PAID_AT
    intent = payment_intent(amount=4380, charge=paid)
    intent["metadata"] = {}
    session["payment_intent"] = intent["id"]
    session["_intent"] = intent
    stripe_api.add(session)
    return session


def csrf_token(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def pdf_text(body: bytes) -> str:
    """The text of every page, as a PDF reader extracts it."""
    import io

    reader = pypdf.PdfReader(io.BytesIO(body))
    return "\n".join(page.extract_text() for page in reader.pages)
