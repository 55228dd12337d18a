"""What the emulator knows, and the things that happen to it (payments, refunds, …).

Everything lives in memory behind one re-entrant lock. Operations a buyer or a test
starts (paying, a konbini payment arriving, a refund) send their webhooks and wait up to
``delivery_wait_seconds`` for them before returning, so whoever asked sees a portal that
has already heard the news; API calls answer at once, as Stripe's API does.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterable

from portal.devstack.stripe_emulator import objects
from portal.devstack.stripe_emulator.faults import Faults
from portal.devstack.stripe_emulator.objects import Json
from portal.devstack.stripe_emulator.webhooks import Endpoint, Outbox, SentEvent

#: Payment methods a seeded or paid session can use.
PAYMENT_METHODS = ("card", "konbini", "customer_balance")


class EmulatorState:
    """Stripe's side of the demo: sessions, payments, links, customers, events."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, Json] = {}
        #: Line items per session id, in the order they were bought.
        self.line_items: dict[str, list[Json]] = {}
        self.payment_intents: dict[str, Json] = {}
        self.charges: dict[str, Json] = {}
        self.payment_links: dict[str, Json] = {}
        #: Line items per payment link id (each session gets copies).
        self.link_items: dict[str, list[Json]] = {}
        self.portal_sessions: dict[str, Json] = {}
        self.customers: dict[str, Json] = {}
        self.invoices: dict[str, Json] = {}
        #: What paid each invoice (``invoice_payment`` objects), by id.
        self.invoice_payments: dict[str, Json] = {}
        #: Refunds by id; a charge shows its own only when ``refunds`` is expanded.
        self.refunds: dict[str, Json] = {}
        #: Disputes (chargebacks) by id; a charge says ``disputed: true`` while it has one.
        self.disputes: dict[str, Json] = {}
        self.prices: dict[str, Json] = {}
        self.products: dict[str, Json] = {}
        #: Every event sent, with each endpoint's delivery result.
        self.events: list[SentEvent] = []
        #: ``(method, path)`` of every API request, for tests and benchmarks.
        self.calls: list[tuple[str, str]] = []
        #: Every API request with its parameters as sent (``(method, path, [(key,
        #: value), …])``, bracket-encoded): tests check them against the pinned version.
        self.requests: list[tuple[str, str, list[tuple[str, str]]]] = []
        #: Added to every API request, to stand in for the network (benchmarks).
        self.latency_seconds = 0.0
        #: Switches for what real Stripe does wrong: a restricted key, 429, 5xx, hangs.
        self.faults = Faults()
        #: Whether the account saved its customer portal settings (else Stripe's 400).
        self.portal_configured = True
        #: How long a new customer stays out of search results (Stripe: about a minute,
        #: up to an hour during incidents).
        self.search_lag_seconds = 0.0
        #: Longest an operation waits for its webhooks before returning.
        self.delivery_wait_seconds = 2.0
        #: Where the emulator is served; links in objects start with it.
        self.public_url = ""
        #: The webhook endpoints events are sent to.
        self.webhook_targets: list[Endpoint] = []
        self._last_created = 0
        self._outboxes: dict[tuple[str, str], Outbox] = {}

    # --- bookkeeping ---------------------------------------------------------------------

    def record_call(
        self, method: str, path: str, params: list[tuple[str, str]] | None = None
    ) -> None:
        """Log one API request (and its parameters)."""
        with self.lock:
            self.calls.append((method, path))
            self.requests.append((method, path, list(params or [])))

    def reset_calls(self) -> None:
        """Forget the call log."""
        with self.lock:
            self.calls.clear()
            self.requests.clear()

    def next_created(self) -> int:
        """Now, but strictly after the last one given, so newest-first is deterministic."""
        with self.lock:
            self._last_created = max(int(time.time()), self._last_created + 1)
            return self._last_created

    def store(self, kind: str) -> dict[str, Json] | None:
        """The objects of ``kind`` (``"charge"``, …) by id, if the emulator keeps them."""
        return {
            "checkout.session": self.sessions,
            "payment_intent": self.payment_intents,
            "charge": self.charges,
            "payment_link": self.payment_links,
            "customer": self.customers,
            "invoice": self.invoices,
            "invoice_payment": self.invoice_payments,
            "refund": self.refunds,
            "dispute": self.disputes,
            "price": self.prices,
            "product": self.products,
        }.get(kind)

    # --- seeding ---------------------------------------------------------------------------

    def add_customer(self, email: str, name: str | None = None) -> Json:
        """A Stripe customer (Checkout makes one when the link says ``customer_creation``)."""
        with self.lock:
            customer = objects.customer(email, name, self.next_created())
            self.customers[customer["id"]] = customer
            return customer

    def delete_customer(self, customer_id: str) -> None:
        """Delete a customer, as the Dashboard does: gone from search and the API."""
        with self.lock:
            del self.customers[customer_id]

    def add_product(self, name: str) -> Json:
        """A product called ``name``."""
        with self.lock:
            product = objects.product(name, int(time.time()))
            self.products[product["id"]] = product
            return product

    def add_price(self, name: str, unit_amount: int, currency: str = "jpy") -> Json:
        """A one-time price of a new product ``name``, for ``line_items[i][price]``."""
        with self.lock:
            return self.price_of(self.add_product(name)["id"], unit_amount, currency)

    def price_of(
        self, product_id: str, unit_amount: int, currency: str, *, active: bool = True
    ) -> Json:
        """A one-time price of the existing product ``product_id``."""
        with self.lock:
            price = objects.price(product_id, unit_amount, currency.lower(), int(time.time()))
            price["active"] = active
            self.prices[price["id"]] = price
            return price

    def inline_price(self, name: str, unit_amount: int, currency: str) -> Json:
        """What ``price_data`` with ``product_data[name]`` makes: a new product and an
        inactive price."""
        with self.lock:
            product = self.add_product(name)
            return self.price_of(product["id"], unit_amount, currency, active=False)

    def add_order(
        self,
        email: str,
        *,
        client_reference_id: str | None = None,
        currency: str = "jpy",
        items: Iterable[tuple[str, int, int]] = (("Item", 1000, 1),),
        payment_status: str = "paid",
        status: str = "complete",
        payment_method: str = "card",
        created: int | None = None,
        payment_link: str | None = None,
        customer: str | None = None,
        invoice: bool = False,
        mode: str = "payment",
    ) -> Json:
        """A Checkout Session as it stands after the buyer's visit, stored with its line
        items and, when complete, its payment intent and charge.

        ``items`` are ``(name, unit amount in minor units, quantity)``. ``status`` is
        ``complete``, ``open`` or ``expired``; ``payment_status`` (of a complete session)
        ``paid``, ``unpaid`` (konbini or bank transfer not paid yet) or
        ``no_payment_required``. Seeding sends no webhooks: it is history.

        ``mode="subscription"`` makes a sign-up as Stripe does: a customer (a new one
        unless given), a subscription, and an invoice that carries the payment; the
        session itself has ``payment_intent: null``.
        """
        if payment_method not in PAYMENT_METHODS:
            raise ValueError(f"payment_method must be one of {PAYMENT_METHODS}")
        with self.lock:
            line_items = [
                self.line_item(self.inline_price(name, amount, currency), quantity)
                for name, amount, quantity in items
            ]
            when = created if created is not None else self.next_created()
            session = self._new_session(line_items, when)
            if mode == "subscription" and customer is None and status == "complete":
                customer = self.add_customer(email)["id"]
            session.update(
                client_reference_id=client_reference_id,
                currency=currency,
                customer=customer,
                mode=mode,
                payment_link=payment_link,
                payment_method_types=[payment_method],
            )
            self._settle_seeded(session, status, payment_status, email, payment_method)
            if mode == "subscription" and status == "complete":
                self._bill_subscription(session)
            elif invoice and status == "complete":
                self._add_invoice(session)
            return session

    def _settle_seeded(
        self, session: Json, status: str, payment_status: str, email: str, method: str
    ) -> None:
        if status == "open":
            session.update(customer_email=email or None, url=self._checkout_url(session))
            return
        session.update(status=status, customer_details=self._details(email, session["customer"]))
        if status == "complete" and payment_status == "no_payment_required":
            session["payment_status"] = payment_status
        elif status == "complete":
            paid = payment_status == "paid"
            self._start_payment(session, method, paid=paid, created=session["created"])

    # --- checkout ----------------------------------------------------------------------

    def line_item(self, price: Json, quantity: int) -> Json:
        """A line item for ``quantity`` of ``price``, named after its product."""
        with self.lock:
            product = self.products.get(price["product"]) or {}
            return objects.line_item(price, product.get("name") or "Item", quantity)

    def open_session(self, line_items: list[Json]) -> Json:
        """A new ``open`` session for ``line_items``; the caller sets its other fields."""
        with self.lock:
            session = self._new_session(line_items, self.next_created())
            session["url"] = self._checkout_url(session)
            return session

    def open_link_session(
        self, link_id: str, *, client_reference_id: str | None, customer_email: str | None
    ) -> Json:
        """The ``open`` session a visit to a Payment Link makes, as at Stripe."""
        with self.lock:
            link = self.payment_links[link_id]
            items = [self.line_item(i["price"], i["quantity"]) for i in self.link_items[link_id]]
            session = self.open_session(items)
            session.update(
                client_reference_id=client_reference_id,
                customer_creation=link["customer_creation"],
                customer_email=customer_email,
                metadata=copy.deepcopy(link["metadata"]),
                payment_link=link_id,
                payment_method_types=list(link["payment_method_types"] or ["card", "konbini"]),
            )
            return session

    def add_portal_session(self, customer: str, return_url: str | None) -> Json:
        """A billing portal session; its ``url`` is the emulator's billing page."""
        with self.lock:
            portal = objects.portal_session(
                customer, return_url, self.next_created(), self.public_url
            )
            self.portal_sessions[portal["id"]] = portal
            return portal

    def add_payment_link(self, line_items: list[Json]) -> Json:
        """A new active Payment Link selling ``line_items``; the caller sets its options."""
        with self.lock:
            link = objects.payment_link(line_items[0]["currency"], self.public_url)
            self.payment_links[link["id"]] = link
            self.link_items[link["id"]] = line_items
            return link

    def complete_checkout(self, session_id: str, *, email: str, payment_method: str) -> Json:
        """The buyer pays an ``open`` session: card now, konbini or bank transfer later.

        Sends ``checkout.session.completed``. A session that is no longer open is
        returned unchanged (a form submitted twice pays once).
        """
        with self.lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                return session
            customer = session["customer"]
            if customer is None and session["customer_creation"] == "always":
                customer = self.add_customer(email)["id"]
            session.update(
                status="complete",
                url=None,
                customer=customer,
                customer_details=self._details(email, customer),
            )
            paid = payment_method == "card"
            self._start_payment(session, payment_method, paid=paid, created=self.next_created())
            sent = self.emit("checkout.session.completed", session)
        sent.wait(self.delivery_wait_seconds)
        return session

    def expire_session(self, session_id: str) -> Json:
        """Expire an ``open`` session and send ``checkout.session.expired`` (no waiting:
        this is what ``POST /v1/checkout/sessions/<id>/expire`` does)."""
        with self.lock:
            session = self.sessions[session_id]
            session.update(status="expired", url=None)
            if session["customer_email"]:
                session["customer_details"] = self._details(session["customer_email"], None)
            self.emit("checkout.session.expired", session)
            return session

    # --- what happens after checkout -----------------------------------------------------

    def mark_paid(self, session_id: str) -> Json:
        """A konbini or bank transfer payment arrives: the session becomes ``paid``, its
        payment intent ``succeeded`` with a charge, and
        ``checkout.session.async_payment_succeeded`` is sent. Paying twice changes nothing.
        """
        with self.lock:
            session = self.sessions[session_id]
            if session["payment_status"] == "paid":
                return session
            intent = self.intent_of(session)
            if intent is not None:
                self._succeed(intent, session, self.next_created())
            session["payment_status"] = "paid"
            self._invoice_paid(session)
            sent = self.emit("checkout.session.async_payment_succeeded", session)
        sent.wait(self.delivery_wait_seconds)
        return session

    def fail_payment(self, session_id: str) -> Json:
        """A konbini voucher expires unpaid: send ``checkout.session.async_payment_failed``."""
        with self.lock:
            session = self.sessions[session_id]
            intent = self.intent_of(session)
            assert intent is not None, f"{session_id} has no payment to fail"
            intent.update(
                status="requires_payment_method",
                next_action=None,
                last_payment_error={
                    "type": "invalid_request_error",
                    "code": "payment_intent_payment_attempt_expired",
                    "message": "The payment was not completed in time.",
                },
            )
            sent = self.emit("checkout.session.async_payment_failed", session)
        sent.wait(self.delivery_wait_seconds)
        return session

    def refund(self, session_id: str, amount: int | None = None) -> Json:
        """Refund the order's charge (what is left of it by default); sends
        ``charge.refunded``. Returns the charge."""
        with self.lock:
            intent = self.intent_of(self.sessions[session_id])
            assert intent is not None, f"{session_id} has no payment to refund"
            charge = self.charges[intent["latest_charge"]]
            left = charge["amount"] - charge["amount_refunded"]
            if left <= 0:
                raise ValueError(f"charge {charge['id']} has already been refunded")
            refunded = min(left, amount or left)
            charge["amount_refunded"] += refunded
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            refund = objects.refund(charge, refunded, self.next_created())
            self.refunds[refund["id"]] = refund
            sent = self.emit("charge.refunded", charge)
        sent.wait(self.delivery_wait_seconds)
        return charge

    def dispute(
        self, session_id: str, status: str = "needs_response", *, reason: str = "fraudulent"
    ) -> Json:
        """The buyer's card issuer disputes the order's charge, or decides its dispute.

        An open ``status`` (``needs_response``, ``warning_needs_response``,
        ``under_review``) opens a dispute as Stripe does: the charge says
        ``disputed: true`` (and keeps saying it), the whole amount is withdrawn
        (``charge.dispute.created``, ``charge.dispute.funds_withdrawn``); an open one
        just changes status (``charge.dispute.updated``). ``won`` or
        ``lost`` closes the charge's open dispute, opening one first if there is none
        (``charge.dispute.closed``, and ``charge.dispute.funds_reinstated`` when won).
        Returns the dispute.
        """
        if status not in objects.OPEN_DISPUTE_STATUSES + objects.CLOSED_DISPUTE_STATUSES:
            raise ValueError(f"not a dispute status: {status}")
        with self.lock:
            intent = self.intent_of(self.sessions[session_id])
            assert intent is not None and intent["latest_charge"], f"{session_id} was not paid"
            charge = self.charges[intent["latest_charge"]]
            found = self._open_dispute(charge["id"])
            if found is None:
                opening = "needs_response" if status in objects.CLOSED_DISPUTE_STATUSES else status
                found = objects.dispute(charge, self.next_created(), opening, reason)
                self.disputes[found["id"]] = found
                charge["disputed"] = True
                self.emit("charge.dispute.created", found)
                sent = self.emit("charge.dispute.funds_withdrawn", found)
            elif status in objects.OPEN_DISPUTE_STATUSES:
                found["status"] = status
                sent = self.emit("charge.dispute.updated", found)
            if status in objects.CLOSED_DISPUTE_STATUSES:
                found["status"] = status
                sent = self.emit("charge.dispute.closed", found)
                if status == "won":
                    sent = self.emit("charge.dispute.funds_reinstated", found)
        sent.wait(self.delivery_wait_seconds)
        return found

    def _open_dispute(self, charge_id: str) -> Json | None:
        return next(
            (
                d
                for d in self.disputes.values()
                if d["charge"] == charge_id and d["status"] in objects.OPEN_DISPUTE_STATUSES
            ),
            None,
        )

    def intent_of(self, session: Json) -> Json | None:
        """The PaymentIntent that pays ``session``: its own, or (subscription mode) the one
        on its invoice."""
        with self.lock:
            if session["payment_intent"]:
                return self.payment_intents[session["payment_intent"]]
            for payment in self.invoice_payments.values():
                if payment["invoice"] == session["invoice"]:
                    return self.payment_intents[payment["payment"]["payment_intent"]]
            return None

    def refunds_of(self, charge_id: str) -> list[Json]:
        """The charge's refunds, newest first."""
        with self.lock:
            found = [r for r in self.refunds.values() if r["charge"] == charge_id]
            return sorted(found, key=lambda r: (-int(r["created"]), r["id"]))

    def payments_of(self, invoice_id: str) -> list[Json]:
        """The invoice's payments, newest first."""
        with self.lock:
            found = [p for p in self.invoice_payments.values() if p["invoice"] == invoice_id]
            return sorted(found, key=lambda p: (-int(p["created"]), p["id"]))

    # --- webhooks ------------------------------------------------------------------------

    def emit(self, kind: str, obj: Json) -> SentEvent:
        """Send an event about ``obj`` (as it is now) to every webhook target, each with its
        endpoint's API version; no waiting."""
        with self.lock:
            event = objects.event(
                kind, copy.deepcopy(obj), int(time.time()), len(self.webhook_targets)
            )
            payloads = {
                target.url: json.dumps({**event, "api_version": target.api_version}).encode()
                for target in self.webhook_targets
            }
            sent = SentEvent(event, payloads, set(payloads))
            self.events.append(sent)
            for target in self.webhook_targets:
                outbox = self._outboxes.setdefault(
                    (target.url, target.secret), Outbox(target.url, target.secret)
                )
                outbox.post(sent)
            return sent

    def wait_for_deliveries(self, timeout: float = 5.0) -> bool:
        """Block until every event sent so far has been delivered or given up on."""
        deadline = time.monotonic() + timeout
        with self.lock:
            sent = list(self.events)
        return all(s.wait(max(0.0, deadline - time.monotonic())) for s in sent)

    # --- internals -----------------------------------------------------------------------

    def _new_session(self, line_items: list[Json], created: int) -> Json:
        session = objects.checkout_session(created, line_items)
        self.sessions[session["id"]] = session
        self.line_items[session["id"]] = line_items
        return session

    def _checkout_url(self, session: Json) -> str:
        return f"{self.public_url}/checkout/{session['id']}"

    def _details(self, email: str, customer: str | None) -> Json:
        name = (self.customers.get(customer or "") or {}).get("name")
        return objects.customer_details(email, name)

    def _start_payment(self, session: Json, method: str, *, paid: bool, created: int) -> None:
        """The session's payment intent: paid at once, or waiting for the money."""
        total, currency = session["amount_total"], session["currency"]
        intent = objects.payment_intent(total, currency, method, created, session["customer"])
        self.payment_intents[intent["id"]] = intent
        session.update(payment_intent=intent["id"], payment_status="paid" if paid else "unpaid")
        if paid:
            self._succeed(intent, session, created)
        elif method == "konbini":
            action = objects.konbini_action(intent, self.public_url)
            intent.update(status="requires_action", next_action=action)
        elif method == "customer_balance":
            action = objects.bank_transfer_action(intent, self.public_url)
            intent.update(status="requires_action", next_action=action)

    def _succeed(self, intent: Json, session: Json, created: int) -> None:
        email = (session["customer_details"] or {}).get("email")
        charge = objects.charge(intent, email, created, self.public_url)
        self.charges[charge["id"]] = charge
        intent.update(
            status="succeeded",
            latest_charge=charge["id"],
            next_action=None,
            amount_received=intent["amount"],
            payment_method=charge["payment_method"],
        )

    def _add_invoice(self, session: Json) -> None:
        invoice = objects.invoice(session, session["created"], self.public_url)
        self.invoices[invoice["id"]] = invoice
        session["invoice"] = invoice["id"]
        session["invoice_creation"] = {
            "enabled": True,
            "invoice_data": objects.template("checkout.session")["invoice_creation"][
                "invoice_data"
            ],
        }

    def _bill_subscription(self, session: Json) -> None:
        """Move the payment Checkout started onto the subscription's first invoice."""
        subscription = objects.new_id("sub_")
        invoice = objects.invoice(
            session, session["created"], self.public_url, subscription=subscription
        )
        self.invoices[invoice["id"]] = invoice
        session.update(subscription=subscription, invoice=invoice["id"])
        intent_id = session["payment_intent"]
        if intent_id is None:
            return  # nothing to pay (a trial, a free plan)
        session["payment_intent"] = None
        intent = self.payment_intents[intent_id]
        payment = objects.invoice_payment(invoice, intent, session["created"])
        self.invoice_payments[payment["id"]] = payment

    def _invoice_paid(self, session: Json) -> None:
        invoice = self.invoices.get(session["invoice"] or "")
        if invoice is not None:
            paid_at = self.next_created()
            invoice.update(status="paid", amount_paid=invoice["total"], amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = paid_at
            for payment in self.payments_of(invoice["id"]):
                payment.update(status="paid", amount_paid=payment["amount_requested"])
                payment["status_transitions"]["paid_at"] = paid_at
