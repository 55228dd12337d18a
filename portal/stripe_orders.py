"""The Stripe adapter: Checkout Sessions in, :class:`~portal.domain.Order` out.

Stripe is the portal's order database. This is the only module that imports ``stripe``;
SDK objects are turned into plain dicts at the boundary and into domain objects here, so
nothing else ever sees Stripe's shapes (stripe 16 objects are not dicts anyway).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe

from portal.domain import (
    N_,
    LineItem,
    Money,
    Order,
    OrderPage,
    OrderStatus,
    OrdersUnavailable,
    PaymentDetails,
    PortalError,
    StripeMisconfigured,
    TimelineEntry,
    normalize_email,
)

log = logging.getLogger(__name__)

#: Orders shown on one page of ``/orders``.
ORDERS_PER_PAGE = 50
#: Most orders a filtered view or an export reads (one Stripe call per 100).
MAX_HISTORY = 2000
#: Stripe's largest page; one list call covers two portal pages.
STRIPE_PAGE_LIMIT = 100
#: Seconds to wait for Stripe before showing "temporarily unavailable" (SDK default: 80).
STRIPE_TIMEOUT_SECONDS = 5.0
#: Retries for connection errors and 5xx/409/429 answers; the SDK does none unless told.
STRIPE_NETWORK_RETRIES = 2

#: Stripe's own tolerance for a webhook signature's age.
WEBHOOK_TOLERANCE_SECONDS = 300

_SESSION_ID = re.compile(r"cs_(?:test_|live_)?[A-Za-z0-9]{8,250}")
_PAID_STATUSES = {"paid", "no_payment_required"}

Json = dict[str, Any]


def make_client(secret_key: str, api_base: str | None = None) -> stripe.StripeClient:
    """One ``StripeClient`` for the app, with a short timeout and retries switched on."""
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base} if api_base else None,
        max_network_retries=STRIPE_NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=STRIPE_TIMEOUT_SECONDS),
    )


def is_session_id(value: str) -> bool:
    """Whether ``value`` is shaped like a Checkout Session id (checked before any call)."""
    return bool(_SESSION_ID.fullmatch(value))


class StripeOrders:
    """Reads a customer's orders from Checkout Sessions."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client
        self._link_ids: dict[str, str] = {}

    def list_orders(self, email: str, page: int) -> OrderPage:
        """Page ``page`` (1-based) of the orders placed with ``email``, newest first.

        Only as many Stripe pages are read as the requested page needs: pages 1 and 2
        cost one call each whatever the number of orders.
        """
        wanted = page * ORDERS_PER_PAGE
        ordered, more = self._sessions_of(email, wanted)
        shown = ordered[wanted - ORDERS_PER_PAGE : wanted]
        return OrderPage(
            orders=tuple(_order_from_session(s) for s in shown),
            number=page,
            has_next=len(ordered) > wanted or more,
        )

    def all_orders(self, email: str) -> tuple[Order, ...]:
        """Every order of ``email`` (up to ``MAX_HISTORY``), newest first: for filtered
        views and exports. Costs one Stripe call per 100 orders."""
        ordered, more = self._sessions_of(email, MAX_HISTORY)
        if more or len(ordered) > MAX_HISTORY:
            log.warning("order history cut at %s orders", MAX_HISTORY)
        return tuple(_order_from_session(s) for s in ordered[:MAX_HISTORY])

    def _sessions_of(self, email: str, count: int) -> tuple[list[Json], bool]:
        """At least the newest ``count`` complete sessions of ``email``, and whether more exist.

        Stripe's email filter is exact-match, so an email that is not lower-case is asked
        for as given and lower-cased, and the two lists are merged by session id.
        """
        sources = [_SessionSource(self._list_page, spelling) for spelling in _spellings(email)]
        sessions: dict[str, Json] = {}
        for source in sources:
            for session in source.first(count):
                sessions[session["id"]] = session
        ordered = sorted(sessions.values(), key=lambda s: (-int(s["created"]), s["id"]))
        return ordered, any(s.has_more for s in sources)

    def find_order(self, session_id: str) -> Order | None:
        """The order behind ``session_id`` with all its line items, or ``None``.

        Sessions that are not orders (``open``, ``expired``) are ``None`` too, so a caller
        cannot tell them from ids that do not exist.
        """
        if not is_session_id(session_id):
            return None
        session = self._get(
            f"/v1/checkout/sessions/{session_id}",
            # Refunds for the timeline: 3 of Stripe's 4 levels; one call in all.
            {"expand": ["line_items", "payment_intent.latest_charge.refunds", "invoice"]},
            missing_ok=True,
        )
        if session is None or session.get("status") != "complete":
            return None
        line_items = session.get("line_items") or {}
        if line_items.get("has_more"):
            session["line_items"] = {
                "data": self._all_line_items(session_id),
                "has_more": False,
            }
        return _order_from_session(session)

    def payment_link_id(self, url: str) -> str | None:
        """The ``plink_…`` id of the Payment Link at ``url`` (remembered once found)."""
        starting_after: str | None = None
        while url not in self._link_ids:
            page = self._payment_links_page(starting_after)
            for link in page["data"]:
                self._link_ids[str(link.get("url"))] = str(link["id"])
            if not page.get("has_more") or not page["data"]:
                break
            starting_after = page["data"][-1]["id"]
        return self._link_ids.get(url)

    def _payment_links_page(self, starting_after: str | None) -> Json:
        params: Any = {"limit": STRIPE_PAGE_LIMIT}
        if starting_after:
            params["starting_after"] = starting_after
        result = self._get("/v1/payment_links", params)
        assert result is not None
        return result

    def customer_for(self, email: str) -> str | None:
        """The Stripe customer with this email, by Stripe's customer search."""
        quoted = normalize_email(email).replace("\\", "").replace("'", "\\'")
        params: Any = {"query": f"email:'{quoted}'", "limit": 1}
        result = self._get("/v1/customers/search", params)
        found = result["data"] if result else []
        return str(found[0]["id"]) if found else None

    def billing_portal_url(self, customer: str, return_url: str) -> str:
        """A one-time link into Stripe's billing portal for ``customer``."""
        params: Any = {"customer": customer, "return_url": return_url}
        result = _call(
            lambda: self._client.raw_request("post", "/v1/billing_portal/sessions", **params)
        )
        assert result is not None
        return str(result["url"])

    def buyers_of(self, payment_intent: str) -> list[tuple[str, str | None]]:
        """``(session id, checkout email)`` of the sessions paid by ``payment_intent``.

        Charge events (refunds) name a payment intent, not a session: this finds the
        orders they change.
        """
        sessions = _sessions_for_payment_intent(self._client, payment_intent)
        return [(s["id"], (s.get("customer_details") or {}).get("email")) for s in sessions]

    def _list_page(self, email: str, starting_after: str | None) -> Json:
        params: Any = {
            "customer_details": {"email": email},
            "status": "complete",
            "limit": STRIPE_PAGE_LIMIT,
            # Receipts and vouchers come in the same call: 3 of Stripe's 4 expansion levels.
            "expand": ["data.line_items", "data.payment_intent.latest_charge"],
        }
        if starting_after:
            params["starting_after"] = starting_after
        result = self._get("/v1/checkout/sessions", params)
        assert result is not None  # a list call is never "missing"
        return result

    def _get(self, path: str, params: Any, *, missing_ok: bool = False) -> Json | None:
        """One GET through the SDK (auth, retries, timeout, errors), answered as plain JSON.

        The SDK's raw request skips building StripeObjects: for a page of 100 sessions with
        their line items, intents and charges, building them cost more than the rest of
        the page (measured with cProfile).
        """
        return _call(lambda: self._client.raw_request("get", path, **params), missing_ok=missing_ok)

    def _all_line_items(self, session_id: str) -> list[Json]:
        items: list[Json] = []
        starting_after: str | None = None
        while True:
            page = self._line_items_page(session_id, starting_after)
            items.extend(page["data"])
            if not page.get("has_more") or not page["data"]:
                return items
            starting_after = page["data"][-1]["id"]

    def _line_items_page(self, session_id: str, starting_after: str | None) -> Json:
        params: Any = {"limit": STRIPE_PAGE_LIMIT}
        if starting_after:
            params["starting_after"] = starting_after
        result = self._get(f"/v1/checkout/sessions/{session_id}/line_items", params)
        assert result is not None
        return result


@dataclass
class _SessionSource:
    """A lazily paged Stripe list of one email spelling's complete sessions."""

    fetch: Callable[[str, str | None], Json]
    email: str
    has_more: bool = True
    _seen: list[Json] = field(default_factory=list)

    def first(self, count: int) -> list[Json]:
        """At least the first ``count`` sessions (all read so far), reading only the pages
        that needs. Returning the surplus tells the caller whether another page exists."""
        while len(self._seen) < count and self.has_more:
            after = self._seen[-1]["id"] if self._seen else None
            page = self.fetch(self.email, after)
            self._seen.extend(page["data"])
            self.has_more = bool(page.get("has_more")) and bool(page["data"])
        return self._seen


def _spellings(email: str) -> list[str]:
    trimmed = email.strip()
    lowered = trimmed.lower()
    return [lowered] if trimmed == lowered else [trimmed, lowered]


def _call(request: Callable[[], Any], *, missing_ok: bool = False) -> Json | None:
    """Run one SDK request; return its JSON body, and turn its errors into ours."""
    try:
        return dict(request().data)
    except stripe.InvalidRequestError as exc:
        if missing_ok and exc.http_status == 404:
            return None
        log.error("Stripe rejected a request (request id %s): %s", exc.request_id, exc.code)
        raise StripeMisconfigured("Stripe rejected the request", exc.request_id) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        log.critical(
            "Stripe refused the API key (request id %s): check PORTAL_STRIPE_SECRET_KEY",
            exc.request_id,
        )
        raise StripeMisconfigured("Stripe refused the API key", exc.request_id) from exc
    except stripe.StripeError as exc:
        # Connection errors, 5xx and rate limits: the SDK has already retried.
        log.warning(
            "Stripe unavailable (%s, HTTP %s, request id %s)",
            type(exc).__name__,
            exc.http_status,
            exc.request_id,
        )
        raise OrdersUnavailable("Stripe did not answer", exc.request_id) from exc


def _order_from_session(session: Json) -> Order:
    currency = session.get("currency") or "usd"
    line_items = session.get("line_items") or {}
    details = session.get("customer_details") or {}
    intent = session.get("payment_intent")
    intent = intent if isinstance(intent, dict) else {}
    charge = intent.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    invoice = session.get("invoice")
    invoice = invoice if isinstance(invoice, dict) else {}
    return Order(
        session_id=session["id"],
        reference=session.get("client_reference_id"),
        created=datetime.fromtimestamp(int(session["created"]), tz=UTC),
        status=_status(session.get("payment_status"), intent, charge),
        total=Money(int(session.get("amount_total") or 0), currency),
        email=details.get("email") or "",
        items=tuple(_line_item(item, currency) for item in line_items.get("data") or ()),
        items_complete=not line_items.get("has_more", False),
        payment=_payment_details(intent, charge, invoice, currency),
        customer=session.get("customer") if isinstance(session.get("customer"), str) else None,
        paid_at=_time(charge.get("created")) if charge.get("paid") else None,
        timeline=_timeline(session, intent, charge, currency),
        is_subscription=session.get("mode") == "subscription",
        payment_link=session.get("payment_link")
        if isinstance(session.get("payment_link"), str)
        else None,
    )


def _time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if isinstance(value, int) else None


def _timeline(
    session: Json, intent: Json, charge: Json, currency: str
) -> tuple[TimelineEntry, ...]:
    """What the session, its payment intent and charge tell about the order's life."""
    total = Money(int(session.get("amount_total") or 0), currency)
    entries = [TimelineEntry(N_("Order placed"), _time(session.get("created")), total)]
    if (intent.get("next_action") or {}).get("type") or intent.get("payment_method_types") in (
        ["konbini"],
        ["customer_balance"],
    ):
        entries.append(TimelineEntry(N_("Awaiting payment"), _time(intent.get("created"))))
    if charge.get("paid"):
        entries.append(TimelineEntry(N_("Paid"), _time(charge.get("created")), total))
    elif intent.get("last_payment_error") and session.get("payment_status") == "unpaid":
        entries.append(TimelineEntry(N_("Payment failed"), _time(intent.get("canceled_at"))))
    refunds = (charge.get("refunds") or {}).get("data") or []
    for refund in sorted(refunds, key=lambda r: int(r.get("created") or 0)):
        amount = Money(int(refund.get("amount") or 0), refund.get("currency") or currency)
        entries.append(TimelineEntry(N_("Refunded"), _time(refund.get("created")), amount))
    if not refunds and charge.get("amount_refunded"):
        amount = Money(int(charge["amount_refunded"]), charge.get("currency") or currency)
        entries.append(TimelineEntry(N_("Refunded"), None, amount))
    if charge.get("disputed"):
        entries.append(TimelineEntry(N_("Payment disputed")))
    return tuple(entries)


def _status(payment_status: str | None, intent: Json, charge: Json) -> OrderStatus:
    if payment_status in _PAID_STATUSES:
        refunded = int(charge.get("amount_refunded") or 0)
        if refunded and refunded >= int(charge.get("amount") or 0):
            return OrderStatus.REFUNDED
        return OrderStatus.PARTIALLY_REFUNDED if refunded else OrderStatus.PAID
    # An async payment that failed leaves the intent wanting a new payment method.
    if intent.get("status") in ("requires_payment_method", "canceled") and intent.get(
        "last_payment_error"
    ):
        return OrderStatus.PAYMENT_FAILED
    return OrderStatus.AWAITING_PAYMENT


def _payment_details(intent: Json, charge: Json, invoice: Json, currency: str) -> PaymentDetails:
    action = intent.get("next_action") or {}
    konbini = action.get("konbini_display_details") or {}
    transfer = action.get("display_bank_transfer_instructions") or {}
    expires = konbini.get("expires_at")
    refunded = int(charge.get("amount_refunded") or 0)
    return PaymentDetails(
        receipt_url=charge.get("receipt_url") if charge.get("paid") else None,
        voucher_url=konbini.get("hosted_voucher_url"),
        voucher_expires_at=datetime.fromtimestamp(int(expires), tz=UTC) if expires else None,
        instructions_url=transfer.get("hosted_instructions_url"),
        refunded=Money(refunded, charge.get("currency") or currency) if refunded else None,
        invoice_url=invoice.get("hosted_invoice_url"),
        invoice_pdf=invoice.get("invoice_pdf"),
    )


def _line_item(item: Json, currency: str) -> LineItem:
    price = item.get("price") or {}
    product = price.get("product")
    name = item.get("description") or (product.get("name") if isinstance(product, dict) else "")
    return LineItem(
        description=name or "Item",
        quantity=int(item.get("quantity") or 1),
        amount_total=Money(int(item.get("amount_total") or 0), item.get("currency") or currency),
    )


class InvalidWebhook(PortalError):
    """A webhook request that is not a genuine, fresh Stripe event.

    ``signed`` tells a body that carries a valid signature but is not an event we can
    read (only the holder of the secret can send one) from a forgery.
    """

    def __init__(self, reason: str, *, signed: bool = False) -> None:
        super().__init__(reason)
        self.signed = signed


@dataclass(frozen=True)
class StripeEvent:
    """The parts of a verified Stripe event the portal acts on."""

    id: str
    type: str
    created: int
    #: ``data.object.id`` (a Checkout Session id for ``checkout.session.*``).
    object_id: str | None
    #: ``data.object.customer_details.email`` when the object carries one.
    email: str | None
    #: ``data.object.client_reference_id``: the shop's OrderID.
    reference: str | None
    payment_status: str | None
    #: The whole event as Stripe sent it, for forwarding.
    payload: Json = field(repr=False, compare=False)


def verify_webhook(payload: bytes, signature: str | None, secrets: Sequence[str]) -> StripeEvent:
    """Check Stripe's signature (any of ``secrets``) and read the event.

    Raises :class:`InvalidWebhook` for a missing, malformed, wrong or stale signature
    (older than Stripe's 300 s tolerance, or as far in the future), and for a body that is
    not a Stripe event. The body is parsed only after the signature holds.
    """
    if not signature:
        raise InvalidWebhook("missing Stripe-Signature header")
    if not any(_signed_by(payload, signature, secret) for secret in secrets):
        raise InvalidWebhook("signature does not verify")
    if _signed_at(signature) > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise InvalidWebhook("signature timestamp is in the future")
    try:
        data = json.loads(payload)
    except ValueError as exc:  # includes bad UTF-8
        raise InvalidWebhook("body is not JSON", signed=True) from exc
    if not isinstance(data, dict):
        raise InvalidWebhook("not a Stripe event", signed=True)
    return _event_from(data)


def _signed_by(payload: bytes, signature: str, secret: str) -> bool:
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8", errors="replace"),
            signature,
            secret,
            WEBHOOK_TOLERANCE_SECONDS,
        )
    except stripe.SignatureVerificationError:
        return False
    return True


def _signed_at(signature: str) -> int:
    for part in signature.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            return int(value)
    return 0


def _event_from(data: Json) -> StripeEvent:
    obj = (data.get("data") or {}).get("object")
    if data.get("object") != "event" or not isinstance(obj, dict):
        raise InvalidWebhook("not a Stripe event", signed=True)
    if not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise InvalidWebhook("event without id or type", signed=True)
    details = obj.get("customer_details") or {}
    return StripeEvent(
        id=data["id"],
        type=data["type"],
        created=int(data.get("created") or 0),
        object_id=obj.get("id") if isinstance(obj.get("id"), str) else None,
        email=details.get("email") if isinstance(details, dict) else None,
        reference=obj.get("client_reference_id"),
        payment_status=obj.get("payment_status"),
        payload=data,
    )


def _sessions_for_payment_intent(client: stripe.StripeClient, payment_intent: str) -> list[Json]:
    params: Any = {"payment_intent": payment_intent, "limit": 10}
    result = _call(lambda: client.raw_request("get", "/v1/checkout/sessions", **params))
    return list(result["data"]) if result else []
