"""What the portal asks Stripe: a customer's sessions, one order, links, customers, billing."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import stripe

from portal.domain import (
    ORDERS_PER_PAGE,
    BillingPortalUnavailable,
    Order,
    OrderHistory,
    OrderPage,
    OrdersUnavailable,
    StripeMisconfigured,
    normalize_email,
)
from portal.stripe.client import Json, call, is_session_id
from portal.stripe.errors import StripeAccessRefused
from portal.stripe.listing import ANY_TIME, Created, newest_sessions
from portal.stripe.mapping import invoice_payment_of, order_from_session
from portal.stripe.parallel import run_all

log = logging.getLogger(__name__)

#: Most orders a filtered view or an export reads (one Stripe call per 100).
MAX_HISTORY = 2000
#: Stripe's largest page, for the other lists the portal reads.
STRIPE_PAGE_LIMIT = 100
#: No page of a history read starts after this many seconds: the last one then ends
#: (at worst the SDK's 3 attempts of 5 s) within gunicorn's 30 s worker timeout.
HISTORY_BUDGET_SECONDS = 12.0


class StripeOrders:
    """Reads a customer's orders from Checkout Sessions."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self._client = client
        self._link_ids: dict[str, str] = {}

    def list_orders(self, email: str, page: int, learned: Sequence[str] = ()) -> OrderPage:
        """Page ``page`` (1-based) of the orders placed with ``email``, newest first.

        ``learned`` are further spellings of the email seen at checkout (see
        :func:`~portal.stripe.listing.spellings_of`). Only as many Stripe pages are read as
        the requested page needs: pages 1 and 2 cost one call per spelling.
        """
        wanted = page * ORDERS_PER_PAGE
        listing = newest_sessions(self._list_page, email, wanted, learned=learned)
        shown = listing.sessions[wanted - ORDERS_PER_PAGE : wanted]
        return OrderPage(
            orders=self._orders_from(shown),
            number=page,
            has_next=len(listing.sessions) > wanted or listing.more,
            total=None if listing.more else len(listing.sessions),
            known=len(listing.sessions),
        )

    def all_orders(
        self,
        email: str,
        learned: Sequence[str] = (),
        *,
        created: Created = ANY_TIME,
    ) -> OrderHistory:
        """Every order of ``email`` created in ``created`` (up to ``MAX_HISTORY``), newest
        first: for filtered views and exports. Costs one call per 100 orders and spelling.

        No page starts after ``HISTORY_BUDGET_SECONDS``: a history that could not be read to
        the end in time (or has more than ``MAX_HISTORY`` orders) says it is incomplete.
        """
        started = time.monotonic()
        listing = newest_sessions(
            self._list_page,
            email,
            MAX_HISTORY,
            learned=learned,
            created=created,
            deadline=started + HISTORY_BUDGET_SECONDS,
        )
        complete = not listing.cut_short and not (
            listing.more or len(listing.sessions) > MAX_HISTORY
        )
        if not complete:
            log.warning(
                "order history incomplete: %s orders read in %.1f s (%s)",
                min(len(listing.sessions), MAX_HISTORY),
                time.monotonic() - started,
                "time budget spent" if listing.cut_short else f"limit of {MAX_HISTORY}",
            )
        return OrderHistory(self._orders_from(listing.sessions[:MAX_HISTORY]), complete)

    def _orders_from(self, sessions: list[Json]) -> tuple[Order, ...]:
        """Listed sessions as orders; subscription sign-ups read their invoice's payment,
        all at once (a customer has few of them: renewals are not Checkout Sessions)."""
        waiting = [s for s in sessions if _invoice_id(s)]
        payments = run_all([partial(self._invoice_payment, s) for s in waiting])
        found = {s["id"]: p for s, p in zip(waiting, payments, strict=True)}
        return tuple(order_from_session(s, found.get(s["id"])) for s in sessions)

    def find_order(self, session_id: str) -> Order | None:
        """The order behind ``session_id`` with all its line items, or ``None``.

        Sessions that are not orders (``open``, ``expired``) are ``None`` too, so a caller
        cannot tell them from ids that do not exist.
        """
        if not is_session_id(session_id):
            return None
        session = self._get(
            f"/v1/checkout/sessions/{session_id}",
            # Refunds for the timeline: 3 of Stripe's 4 levels; line-item taxes (includable
            # only) for the 領収書 and the tax shown; one call for a payment.
            {
                "expand": [
                    "line_items",
                    "line_items.data.taxes",
                    "shipping_cost.taxes",
                    "payment_intent.latest_charge.refunds",
                    "invoice",
                ]
            },
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
        invoice_payment = self._invoice_payment(session, refunds=True)
        order = order_from_session(session, invoice_payment)
        if order.dispute is not None and order.payment_intent:
            # Rare: one more call, so files follow the dispute (open, won or lost).
            disputes = self._disputes(order.payment_intent)
            order = order_from_session(session, invoice_payment, disputes)
        return order

    def _disputes(self, payment_intent: str) -> list[Json] | None:
        """The payment's disputes; ``None`` (so: under review) if the key may not read them."""
        params: Any = {"payment_intent": payment_intent, "limit": 10}
        try:
            result = self._get("/v1/disputes", params)
        except (StripeMisconfigured, StripeAccessRefused):
            return None  # logged by ``call``: the restricted key lacks Disputes (read)
        return list(result["data"]) if result else None

    def _invoice_payment(self, session: Json, *, refunds: bool = False) -> Json | None:
        """The payment on a subscription session's invoice, with its PaymentIntent and
        charge (and, for ``refunds``, the charge's refunds, read only when there are any).

        ``None`` for sessions paid by their own PaymentIntent.
        """
        invoice_id = _invoice_id(session)
        if invoice_id is None:
            return None
        params: Any = {
            "invoice": invoice_id,
            "limit": 10,
            # 4 of Stripe's 4 levels: the intent and its charge in the same call.
            "expand": ["data.payment.payment_intent.latest_charge"],
        }
        listed = self._get("/v1/invoice_payments", params)
        payment = invoice_payment_of(list(listed["data"]) if listed else [])
        intent = ((payment or {}).get("payment") or {}).get("payment_intent")
        charge = intent.get("latest_charge") if isinstance(intent, dict) else None
        if refunds and isinstance(charge, dict) and charge.get("amount_refunded"):
            # ``refunds`` is includable: one level too deep to expand above.
            charge["refunds"] = self._get("/v1/refunds", {"charge": charge["id"], "limit": 100})
        return payment

    def orders_created(self, start: datetime, end: datetime) -> Iterator[tuple[Order, ...]]:
        """Every shop's orders created in ``[start, end)``, newest first, one page (one
        Stripe call) of up to 100 at a time: for ``portal watch``, which must not ask per
        customer. Charges and their refunds come in the same call (disputes, failed
        refunds): all 4 of Stripe's expansion levels."""
        starting_after: str | None = None
        while True:
            params: Any = {
                "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())},
                "status": "complete",
                "limit": STRIPE_PAGE_LIMIT,
                "expand": ["data.payment_intent.latest_charge.refunds"],
            }
            if starting_after:
                params["starting_after"] = starting_after
            page = self._get("/v1/checkout/sessions", params)
            assert page is not None  # a list call is never "missing"
            yield tuple(order_from_session(s) for s in page["data"])
            if not page.get("has_more") or not page["data"]:
                return
            starting_after = page["data"][-1]["id"]

    def session_json(self, session_id: str) -> Json | None:
        """The Checkout Session as Stripe returns it now (to send its paid event again)."""
        if not is_session_id(session_id):
            return None
        return self._get(f"/v1/checkout/sessions/{session_id}", {}, missing_ok=True)

    def orders_paid_by(self, payment_intent: str) -> tuple[Order, ...]:
        """The orders a payment intent paid for (disputes and refunds name the intent, not
        the order): one Stripe call, for the rare events that need it."""
        params: Any = {
            "payment_intent": payment_intent,
            "limit": 10,
            "expand": ["data.payment_intent.latest_charge.refunds"],
        }
        page = self._get("/v1/checkout/sessions", params)
        return tuple(order_from_session(s) for s in (page or {}).get("data") or ())

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

    def customers_for(self, email: str) -> list[str]:
        """Stripe customers whose email is ``email`` (in the portal's one normal form),
        newest first, by Stripe's customer search.

        Search is eventually consistent (a new customer can take a minute, more during
        incidents, to be found) and may find customers with a similar email: only exact
        matches are kept, so the billing portal never opens someone else's account.
        """
        wanted = normalize_email(email)
        quoted = wanted.replace("\\", "").replace("'", "\\'")
        params: Any = {"query": f"email:'{quoted}'", "limit": 10}
        result = self._get("/v1/customers/search", params)
        found = [
            c
            for c in (result["data"] if result else [])
            if isinstance(c.get("email"), str) and normalize_email(c["email"]) == wanted
        ]
        found.sort(key=lambda c: -int(c.get("created") or 0))
        return [str(c["id"]) for c in found]

    def billing_portal_url(self, customer: str, return_url: str) -> str:
        """A one-time link into Stripe's billing portal for ``customer``.

        Raises :class:`BillingPortalUnavailable`: ``not_configured`` when the shop has not
        saved its portal settings in this mode (Stripe's 400, live and test alike),
        ``no_customer`` when the customer does not exist (any more), ``unavailable`` when
        Stripe refused (the key lacks ``rak_customer_portal_write``) or did not answer.
        """
        params: Any = {"customer": customer, "return_url": return_url}
        try:
            result = call(
                lambda: self._client.raw_request("post", "/v1/billing_portal/sessions", **params),
                endpoint="POST /v1/billing_portal/sessions",
            )
        except StripeMisconfigured as exc:
            raise BillingPortalUnavailable(_portal_refusal(exc)) from exc
        except OrdersUnavailable as exc:
            raise BillingPortalUnavailable("unavailable") from exc
        assert result is not None
        return str(result["url"])

    def _list_page(self, params: Any) -> Json:
        result = self._get("/v1/checkout/sessions", params)
        assert result is not None  # a list call is never "missing"
        return result

    def _get(self, path: str, params: Any, *, missing_ok: bool = False) -> Json | None:
        """One GET through the SDK (auth, retries, timeout, errors), answered as plain JSON.

        The SDK's raw request skips building StripeObjects: for a page of 100 sessions with
        their line items, intents and charges, building them cost more than the rest of
        the page (measured with cProfile).
        """
        return call(
            lambda: self._client.raw_request("get", path, **params),
            endpoint=f"GET {path}",
            missing_ok=missing_ok,
        )

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
        params: Any = {"limit": STRIPE_PAGE_LIMIT, "expand": ["data.taxes"]}
        if starting_after:
            params["starting_after"] = starting_after
        result = self._get(f"/v1/checkout/sessions/{session_id}/line_items", params)
        assert result is not None
        return result


def _portal_refusal(exc: StripeMisconfigured) -> str:
    """Why Stripe's 400 refused a billing portal session, as a ``BillingPortalUnavailable``
    reason."""
    cause = exc.__cause__
    message = str(getattr(getattr(cause, "error", None), "message", "") or "")
    if "default configuration has not been created" in message:
        return "not_configured"
    if getattr(cause, "code", None) == "resource_missing":
        return "no_customer"
    return "unavailable"


def _invoice_id(session: Json) -> str | None:
    """The invoice of a session that has no PaymentIntent of its own (subscription mode)."""
    if session.get("payment_intent") is not None:
        return None
    invoice = session.get("invoice")
    invoice_id = invoice.get("id") if isinstance(invoice, dict) else invoice
    return invoice_id if isinstance(invoice_id, str) else None
