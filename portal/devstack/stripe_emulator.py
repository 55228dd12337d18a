"""A local Stripe: the API calls the portal makes, and Payment Link checkout pages.

For the demo, end-to-end tests and benchmarks only; never used in production. It speaks
Stripe's wire format (Bearer keys, bracket-encoded form parameters, list objects, expand,
Stripe's error JSON) so the portal talks to it through the real ``stripe`` SDK, and every
object it returns has the same top-level keys as Stripe's own example of that object
(``stripe_objects.json``, copied from Stripe's OpenAPI fixtures). State lives in memory.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import requests
from flask import Flask, Response, abort, render_template_string, request
from flask import redirect as _redirect

log = logging.getLogger(__name__)

Json = dict[str, Any]

_CLIENT_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_ALPHABET = string.ascii_letters + string.digits
MAX_EXPAND_DEPTH = 4


@cache
def _templates() -> dict[str, Json]:
    path = Path(__file__).with_name("stripe_objects.json")
    loaded: dict[str, Json] = json.loads(path.read_text())
    return loaded


def template(name: str) -> Json:
    """A fresh copy of Stripe's example ``name`` object, to be filled in."""
    return copy.deepcopy(_templates()[name])


class StripeError(Exception):
    """An error answered in Stripe's JSON shape."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "type": "invalid_request_error",
                "message": message,
                **({"code": code} if code else {}),
                **({"param": param} if param else {}),
            }
        }


def _missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


class EmulatorState:
    """Everything the emulator knows, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.sessions: dict[str, Json] = {}
        self.line_items: dict[str, list[Json]] = {}
        self.payment_intents: dict[str, Json] = {}
        self.charges: dict[str, Json] = {}
        self.payment_links: dict[str, Json] = {}
        self.link_items: dict[str, list[tuple[str, int, int, str]]] = {}
        self.portal_sessions: dict[str, Json] = {}
        self.customers: dict[str, Json] = {}
        self.invoices: dict[str, Json] = {}
        #: Delivered events with each target's HTTP status (or the error).
        self.events: list[tuple[Json, list[str]]] = []
        #: ``(method, path)`` of every API request, for tests and benchmarks.
        self.calls: list[tuple[str, str]] = []
        #: Added to every API request, to stand in for the network (benchmarks).
        self.latency_seconds = 0.0
        self.public_url = ""
        #: ``(url, signing secret)`` of the webhook endpoints events are sent to.
        self.webhook_targets: list[tuple[str, str]] = []
        self._last_created = 0

    def reset_calls(self) -> None:
        """Forget the call log."""
        with self.lock:
            self.calls.clear()

    def next_created(self) -> int:
        """Now, but strictly after the last one given, so newest-first is deterministic."""
        with self.lock:
            self._last_created = max(int(time.time()), self._last_created + 1)
            return self._last_created

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
        """Store a Checkout Session (and its payment intent and charge) as Stripe would."""
        with self.lock:
            session_id = "cs_test_" + _random(58)
            line_items = [_line_item(name, amount, qty, currency) for name, amount, qty in items]
            total = sum(item["amount_total"] for item in line_items)
            session = template("checkout.session")
            session.update(
                id=session_id,
                object="checkout.session",
                amount_subtotal=total,
                amount_total=total,
                currency=currency,
                client_reference_id=client_reference_id,
                created=created if created is not None else self.next_created(),
                customer=customer,
                customer_email=None,
                customer_details=_customer_details(session["customer_details"], email),
                livemode=False,
                metadata={},
                mode="payment",
                payment_link=payment_link,
                payment_method_types=[payment_method],
                payment_status=payment_status if status == "complete" else "unpaid",
                status=status,
                url=None if status != "open" else f"{self.public_url}/checkout/{session_id}",
                invoice=None,
                subscription=None,
                setup_intent=None,
                success_url=None,
                cancel_url=None,
            )
            session["expires_at"] = session["created"] + 86400
            session["payment_intent"] = None
            if status == "complete" and payment_status != "no_payment_required":
                intent = self._payment_intent(
                    total, currency, payment_method, payment_status == "paid", session["created"]
                )
                session["payment_intent"] = intent["id"]
            if mode == "subscription":
                session.update(mode="subscription", subscription="sub_" + _random(24))
            if invoice and status == "complete":
                session["invoice"] = self._invoice(session)["id"]
            self.sessions[session_id] = session
            self.line_items[session_id] = line_items
            return session

    def _invoice(self, session: Json) -> Json:
        invoice = template("invoice")
        invoice_id = "in_" + _random(24)
        invoice.update(
            id=invoice_id,
            object="invoice",
            currency=session["currency"],
            customer=session["customer"],
            created=session["created"],
            livemode=False,
            metadata={},
            status="paid" if session["payment_status"] == "paid" else "open",
            total=session["amount_total"],
            amount_due=session["amount_total"],
            hosted_invoice_url=f"{self.public_url}/invoices/{invoice_id}",
            invoice_pdf=f"{self.public_url}/invoices/{invoice_id}/pdf",
        )
        self.invoices[invoice_id] = invoice
        return invoice

    def add_customer(self, email: str, name: str | None = None) -> Json:
        """A Stripe customer (Checkout makes one when the link says ``customer_creation``)."""
        with self.lock:
            customer = template("customer")
            customer.update(
                id="cus_" + _random(14),
                object="customer",
                email=email,
                name=name,
                created=self.next_created(),
                livemode=False,
                metadata={},
            )
            self.customers[customer["id"]] = customer
            return customer

    def mark_paid(self, session_id: str) -> Json:
        """A konbini or bank transfer payment arrives: the session becomes ``paid``."""
        with self.lock:
            session = self.sessions[session_id]
            session["payment_status"] = "paid"
            intent = self.payment_intents.get(session["payment_intent"] or "")
            if intent is not None and intent["status"] != "succeeded":
                self._succeed(intent)
            return session

    def refund(self, session_id: str, amount: int | None = None) -> Json:
        """Refund the order's charge (all of it by default) and send ``charge.refunded``."""
        with self.lock:
            intent = self.payment_intents[self.sessions[session_id]["payment_intent"]]
            charge = self.charges[intent["latest_charge"]]
            total = charge["amount_refunded"] + (amount or charge["amount"])
            charge["amount_refunded"] = min(total, charge["amount"])
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            refund = template("refund")
            refund.update(
                id="re_" + _random(24),
                object="refund",
                charge=charge["id"],
                amount=min(amount or charge["amount"], charge["amount"]),
                currency=charge["currency"],
                created=self.next_created(),
                payment_intent=intent["id"],
                status="succeeded",
                metadata={},
            )
            charge["refunds"]["data"].insert(0, refund)
        send_event(self, "charge.refunded", charge)
        return charge

    def fail_payment(self, session_id: str) -> Json:
        """A konbini voucher expires unpaid: send ``checkout.session.async_payment_failed``."""
        with self.lock:
            session = self.sessions[session_id]
            intent = self.payment_intents[session["payment_intent"]]
            intent.update(
                status="requires_payment_method",
                next_action=None,
                last_payment_error={
                    "type": "invalid_request_error",
                    "code": "payment_intent_payment_attempt_expired",
                    "message": "The payment was not completed in time.",
                },
            )
        send_event(self, "checkout.session.async_payment_failed", session)
        return session

    def _payment_intent(
        self, amount: int, currency: str, method: str, paid: bool, created: int
    ) -> Json:
        intent = template("payment_intent")
        intent.update(
            id="pi_" + _random(24),
            object="payment_intent",
            amount=amount,
            amount_received=0,
            currency=currency,
            created=created,
            livemode=False,
            metadata={},
            payment_method_types=[method],
            latest_charge=None,
            last_payment_error=None,
            status="requires_action",
            next_action=None,
        )
        if paid:
            self._succeed(intent, created)
        elif method == "konbini":
            intent["next_action"] = {
                "type": "konbini_display_details",
                "konbini_display_details": {
                    "expires_at": intent["created"] + 3 * 86400,
                    "hosted_voucher_url": f"{self.public_url}/vouchers/{intent['id']}",
                    "stores": {
                        "familymart": {"confirmation_number": "123456", "payment_code": "123456"},
                        "lawson": {"confirmation_number": "123456", "payment_code": "123456"},
                        "ministop": {"confirmation_number": "123456", "payment_code": "123456"},
                        "seicomart": {"confirmation_number": "123456", "payment_code": "123456"},
                    },
                },
            }
        else:
            intent["next_action"] = {
                "type": "display_bank_transfer_instructions",
                "display_bank_transfer_instructions": {
                    "amount_remaining": amount,
                    "currency": currency,
                    "hosted_instructions_url": f"{self.public_url}/vouchers/{intent['id']}",
                    "type": "jp_bank_transfer",
                },
            }
        self.payment_intents[intent["id"]] = intent
        return intent

    def _succeed(self, intent: Json, created: int | None = None) -> None:
        charge = template("charge")
        charge.update(
            id="ch_" + _random(24),
            object="charge",
            amount=intent["amount"],
            amount_captured=intent["amount"],
            amount_refunded=0,
            currency=intent["currency"],
            created=created or self.next_created(),
            livemode=False,
            metadata={},
            paid=True,
            refunded=False,
            status="succeeded",
            payment_intent=intent["id"],
        )
        charge["receipt_url"] = f"{self.public_url}/receipts/{charge['id']}"
        charge["refunds"] = {
            "object": "list",
            "data": [],
            "has_more": False,
            "url": f"/v1/charges/{charge['id']}/refunds",
        }
        self.charges[charge["id"]] = charge
        intent.update(status="succeeded", latest_charge=charge["id"], next_action=None)
        intent["amount_received"] = intent["amount"]


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _customer_details(example: Json, email: str) -> Json:
    details = copy.deepcopy(example)
    details.update(email=email, name=None, phone=None)
    return details


def _line_item(name: str, unit_amount: int, quantity: int, currency: str) -> Json:
    item = template("item")
    price = template("price")
    price.update(
        id="price_" + _random(24),
        currency=currency,
        unit_amount=unit_amount,
        unit_amount_decimal=str(unit_amount),
        product="prod_" + _random(14),
    )
    item.update(
        id="li_" + _random(24),
        object="item",
        description=name,
        quantity=quantity,
        currency=currency,
        amount_subtotal=unit_amount * quantity,
        amount_total=unit_amount * quantity,
        amount_discount=0,
        amount_tax=0,
        price=price,
    )
    return item


# --- request parsing -----------------------------------------------------------------------


def parse_params(pairs: Iterable[tuple[str, str]]) -> Json:
    """Stripe's bracket encoding (``a[b][0][c]=v``, ``expand[]=x``) into nested dicts/lists."""
    root: Json = {}
    for key, value in pairs:
        path = _key_path(key)
        node: Any = root
        for index, part in enumerate(path):
            last = index == len(path) - 1
            if isinstance(node, list):
                position = int(part) if part.isdigit() else len(node)
                while len(node) <= position:
                    node.append({})
                if last:
                    node[position] = value
                else:
                    node = node[position]
            elif last:
                node[part] = value
            else:
                following = path[index + 1]
                empty: Any = [] if following == "" or following.isdigit() else {}
                node = node.setdefault(part, empty)
    return root


def _key_path(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not rest:
        return [head]
    return [head, *rest.rstrip("]").split("][")]


def _ints(params: Json, name: str, default: int, low: int, high: int) -> int:
    raw = params.pop(name, None)
    if raw is None:
        return default
    if not isinstance(raw, str) or not raw.isdigit() or not low <= int(raw) <= high:
        raise StripeError(400, f"Invalid integer: {raw}", param=name)
    return int(raw)


# --- the app -------------------------------------------------------------------------------


def create_app(
    state: EmulatorState,
    *,
    api_key: str,
    webhook_targets: Iterable[tuple[str, str]] = (),
    public_url: str | None = None,
) -> Flask:
    """The emulator as a WSGI app: ``/v1/…`` API plus the hosted checkout pages."""
    app = Flask(__name__)
    if public_url:
        state.public_url = public_url.rstrip("/")
    state.webhook_targets = list(webhook_targets)
    api = _Api(state)

    @app.before_request
    def _api_gate() -> Response | None:
        if not request.path.startswith("/v1/"):
            return None
        with state.lock:
            state.calls.append((request.method, request.path))
        if state.latency_seconds:
            time.sleep(state.latency_seconds)
        if not state.public_url:
            state.public_url = request.host_url.rstrip("/")
        key = _presented_key()
        if key is None:
            return _error_response(
                StripeError(
                    401,
                    "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
                )
            )
        if not hmac.compare_digest(key, api_key):
            masked = key[:8] + "*" * 4 + key[-4:] if len(key) > 12 else "****"
            return _error_response(StripeError(401, f"Invalid API Key provided: {masked}"))
        return None

    def endpoint(rule: str, methods: list[str], handler: Callable[..., Json]) -> None:
        def view(**kwargs: str) -> Response:
            params = parse_params(
                request.args.items(multi=True)
                if request.method == "GET"
                else request.form.items(multi=True)
            )
            try:
                with state.lock:
                    body = handler(params, **kwargs)
            except StripeError as exc:
                return _error_response(exc)
            return _json(200, body)

        app.add_url_rule(rule, endpoint=rule + ",".join(methods), view_func=view, methods=methods)

    endpoint("/v1/checkout/sessions", ["GET"], api.list_sessions)
    endpoint("/v1/checkout/sessions", ["POST"], api.create_session)
    endpoint("/v1/checkout/sessions/<session_id>", ["GET"], api.retrieve_session)
    endpoint("/v1/checkout/sessions/<session_id>/line_items", ["GET"], api.session_line_items)
    endpoint("/v1/checkout/sessions/<session_id>/expire", ["POST"], api.expire_session)
    endpoint("/v1/payment_links", ["POST"], api.create_payment_link)
    endpoint("/v1/payment_links", ["GET"], api.list_payment_links)
    endpoint("/v1/payment_links/<link_id>", ["GET"], api.retrieve_payment_link)
    endpoint("/v1/payment_intents/<intent_id>", ["GET"], api.retrieve_payment_intent)
    endpoint("/v1/charges/<charge_id>", ["GET"], api.retrieve_charge)
    endpoint("/v1/billing_portal/sessions", ["POST"], api.create_portal_session)
    endpoint("/v1/customers/search", ["GET"], api.search_customers)
    endpoint("/v1/customers/<customer_id>", ["GET"], api.retrieve_customer)

    @app.route("/v1/<path:rest>", methods=["GET", "POST", "DELETE"])
    def unknown(rest: str) -> Response:
        return _error_response(
            StripeError(
                404,
                f"Unrecognized request URL ({request.method}: /v1/{rest}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        )

    _checkout_pages(app, state)
    return app


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    if request.authorization and request.authorization.username:
        return request.authorization.username
    return None


def redirect(location: str) -> Response:
    """A 303 to ``location``, as Stripe's hosted pages answer a submitted form."""
    response: Response = _redirect(location, code=303)  # type: ignore[assignment]
    return response


def _json(status: int, body: Json) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Request-Id"] = "req_" + _random(14)
    return response


def _error_response(error: StripeError) -> Response:
    return _json(error.status, error.body)


class _Api:
    """The API handlers; each gets the parsed parameters and returns the JSON body."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # checkout sessions

    def list_sessions(self, params: Json) -> Json:
        expand = self._expand(
            params, {"data.line_items", "data.payment_intent", "data.payment_intent.latest_charge"}
        )
        details = params.pop("customer_details", None)
        email = details.get("email") if isinstance(details, dict) else None
        if details is not None and (not isinstance(details, dict) or set(details) - {"email"}):
            raise StripeError(
                400, "Received unknown parameter: customer_details", param="customer_details"
            )
        filters: list[Callable[[Json], bool]] = []
        if email is not None:
            filters.append(lambda s: s["customer_details"]["email"] == email)
        for name in ("status", "payment_link", "customer", "payment_intent"):
            if name in params:
                filters.append(_equals(name, params.pop(name)))
        if "created" in params:
            filters.append(_created_filter(params.pop("created")))
        found = [s for s in self.state.sessions.values() if all(f(s) for f in filters)]
        page = _paginate(found, params, "/v1/checkout/sessions")
        page["data"] = [
            self._session(s, {e.removeprefix("data.") for e in expand}) for s in page["data"]
        ]
        return page

    def retrieve_session(self, params: Json, session_id: str) -> Json:
        expand = self._expand(
            params,
            {
                "line_items",
                "payment_intent",
                "payment_intent.latest_charge",
                "payment_intent.latest_charge.refunds",
                "invoice",
            },
        )
        self._no_more(params)
        session = self.state.sessions.get(session_id)
        if session is None:
            raise _missing("checkout.session", session_id, "session")
        return self._session(session, expand)

    def session_line_items(self, params: Json, session_id: str) -> Json:
        if session_id not in self.state.sessions:
            raise _missing("checkout.session", session_id, "session")
        return _paginate(
            self.state.line_items[session_id],
            params,
            f"/v1/checkout/sessions/{session_id}/line_items",
            newest_first=False,
        )

    def create_session(self, params: Json) -> Json:
        items = _items_from(params.pop("line_items", None))
        mode = params.pop("mode", "payment")
        if mode != "payment":
            raise StripeError(400, "Only mode=payment is emulated.", param="mode")
        session = self.state.add_order(
            params.pop("customer_email", "") or "",
            client_reference_id=_reference(params.pop("client_reference_id", None)),
            currency=items[0][3] if items else "jpy",
            items=[(n, a, q) for n, a, q, _ in items],
            status="open",
            payment_status="unpaid",
        )
        session["success_url"] = params.pop("success_url", None)
        session["cancel_url"] = params.pop("cancel_url", None)
        session["metadata"] = params.pop("metadata", {}) or {}
        if "payment_method_types" in params:
            session["payment_method_types"] = list(params.pop("payment_method_types"))
        self._no_more(params)
        return self._session(session, set())

    def expire_session(self, params: Json, session_id: str) -> Json:
        session = self.state.sessions.get(session_id)
        if session is None:
            raise _missing("checkout.session", session_id, "session")
        if session["status"] != "open":
            raise StripeError(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. This Checkout Session has a status of "{session["status"]}".',
            )
        session.update(status="expired", url=None)
        return self._session(session, set())

    # payment links, intents, charges

    def create_payment_link(self, params: Json) -> Json:
        items = _items_from(params.pop("line_items", None))
        if not items:
            raise StripeError(400, "Missing required param: line_items.", param="line_items")
        link = template("payment_link")
        link_id = "plink_" + _random(24)
        link.update(
            id=link_id,
            object="payment_link",
            livemode=False,
            currency=items[0][3],
            metadata=params.pop("metadata", {}) or {},
            url=f"{self.state.public_url}/pay/{link_id}",
        )
        after = params.pop("after_completion", None)
        if isinstance(after, dict) and after.get("type") == "redirect":
            url = (after.get("redirect") or {}).get("url")
            if not url:
                raise StripeError(
                    400,
                    "Missing required param: after_completion[redirect][url].",
                    param="after_completion[redirect][url]",
                )
            link["after_completion"] = {"type": "redirect", "redirect": {"url": url}}
        for name in ("customer_creation", "payment_method_types"):
            if name in params:
                link[name] = params.pop(name)
        self._no_more(params)
        self.state.payment_links[link_id] = link
        self.state.link_items[link_id] = items
        return link

    def list_payment_links(self, params: Json) -> Json:
        links = list(self.state.payment_links.values())
        return _paginate(links, params, "/v1/payment_links", newest_first=False)

    def retrieve_payment_link(self, params: Json, link_id: str) -> Json:
        self._no_more(params)
        return _found(self.state.payment_links, "payment_link", link_id, "id")

    def retrieve_payment_intent(self, params: Json, intent_id: str) -> Json:
        expand = self._expand(params, {"latest_charge"})
        self._no_more(params)
        intent = self.state.payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "intent")
        return self._intent(intent, "latest_charge" in expand)

    def retrieve_charge(self, params: Json, charge_id: str) -> Json:
        self._no_more(params)
        return _found(self.state.charges, "charge", charge_id, "charge")

    # customers and the billing portal

    def create_portal_session(self, params: Json) -> Json:
        customer = params.pop("customer", None)
        if not customer:
            raise StripeError(400, "Missing required param: customer.", param="customer")
        if customer not in self.state.customers:
            raise _missing("customer", customer, "customer")
        return_url = params.pop("return_url", None)
        self._no_more(params)
        portal = template("billing_portal.session")
        portal_id = "bps_" + _random(24)
        portal.update(
            id=portal_id,
            object="billing_portal.session",
            customer=customer,
            created=self.state.next_created(),
            livemode=False,
            return_url=return_url,
            url=f"{self.state.public_url}/billing/{portal_id}",
        )
        self.state.portal_sessions[portal_id] = portal
        return portal

    def retrieve_customer(self, params: Json, customer_id: str) -> Json:
        self._no_more(params)
        return _found(self.state.customers, "customer", customer_id, "customer")

    def search_customers(self, params: Json) -> Json:
        query = params.pop("query", None)
        params.pop("limit", None)
        self._no_more(params)
        match = re.fullmatch(r"\s*email\s*:\s*['\"]([^'\"]*)['\"]\s*", query or "")
        if not match:
            raise StripeError(400, "Invalid search query.", param="query")
        found = [c for c in self.state.customers.values() if c.get("email") == match.group(1)]
        return {
            "object": "search_result",
            "data": found,
            "has_more": False,
            "next_page": None,
            "url": "/v1/customers/search",
        }

    # shaping

    def _session(self, session: Json, expand: set[str]) -> Json:
        body = copy.deepcopy(session)
        if "line_items" in expand:
            items = self.state.line_items[session["id"]]
            body["line_items"] = {
                "object": "list",
                "data": copy.deepcopy(items[:10]),
                "has_more": len(items) > 10,
                "url": f"/v1/checkout/sessions/{session['id']}/line_items",
            }
        intent = self.state.payment_intents.get(session.get("payment_intent") or "")
        with_charge = {"payment_intent.latest_charge", "payment_intent.latest_charge.refunds"}
        if intent is not None and ({"payment_intent"} | with_charge) & expand:
            body["payment_intent"] = self._intent(intent, bool(with_charge & expand))
        invoice = self.state.invoices.get(session.get("invoice") or "")
        if invoice is not None and "invoice" in expand:
            body["invoice"] = copy.deepcopy(invoice)
        return body

    def _intent(self, intent: Json, with_charge: bool) -> Json:
        body = copy.deepcopy(intent)
        if with_charge and intent.get("latest_charge"):
            body["latest_charge"] = copy.deepcopy(self.state.charges[intent["latest_charge"]])
        return body

    @staticmethod
    def _expand(params: Json, allowed: set[str]) -> set[str]:
        raw = params.pop("expand", [])
        paths = raw if isinstance(raw, list) else [raw]
        for path in paths:
            if not isinstance(path, str) or path not in allowed:
                raise StripeError(
                    400, f"This property cannot be expanded ({path}).", param="expand"
                )
            if path.count(".") >= MAX_EXPAND_DEPTH:
                raise StripeError(
                    400,
                    f"You cannot expand more than 4 levels of a property ({path}).",
                    param="expand",
                )
        return set(paths)

    @staticmethod
    def _no_more(params: Json) -> None:
        if params:
            name = sorted(params)[0]
            raise StripeError(400, f"Received unknown parameter: {name}", param=name)


def _found(store: dict[str, Json], kind: str, object_id: str, param: str) -> Json:
    """The stored object, or Stripe's ``resource_missing`` error for it."""
    found = store.get(object_id)
    if found is None:
        raise _missing(kind, object_id, param)
    return found


def _equals(name: str, wanted: Any) -> Callable[[Json], bool]:
    return lambda session: session.get(name) == wanted


def _created_filter(raw: Any) -> Callable[[Json], bool]:
    if isinstance(raw, str):
        if not raw.isdigit():
            raise StripeError(400, f"Invalid integer: {raw}", param="created")
        return lambda s: s["created"] == int(raw)
    if not isinstance(raw, dict) or set(raw) - {"gt", "gte", "lt", "lte"}:
        raise StripeError(400, "Invalid created filter.", param="created")
    ops = {"gt": int.__gt__, "gte": int.__ge__, "lt": int.__lt__, "lte": int.__le__}
    bounds = {}
    for op, value in raw.items():
        if not str(value).isdigit():
            raise StripeError(400, f"Invalid integer: {value}", param=f"created[{op}]")
        bounds[op] = int(value)
    return lambda s: all(ops[op](s["created"], v) for op, v in bounds.items())


def _paginate(items: list[Json], params: Json, url: str, *, newest_first: bool = True) -> Json:
    limit = _ints(params, "limit", 10, 1, 100)
    after = params.pop("starting_after", None)
    before = params.pop("ending_before", None)
    _Api._no_more(params)
    ordered = (
        sorted(items, key=lambda o: (-o.get("created", 0), o["id"]))
        if newest_first
        else list(items)
    )
    ids = [o["id"] for o in ordered]
    if after is not None:
        if after not in ids:
            raise _missing("object", after, "starting_after")
        start = ids.index(after) + 1
        page = ordered[start : start + limit]
        has_more = start + limit < len(ordered)
    elif before is not None:
        if before not in ids:
            raise _missing("object", before, "ending_before")
        end = ids.index(before)
        page = ordered[max(0, end - limit) : end]
        has_more = end - limit > 0
    else:
        page = ordered[:limit]
        has_more = limit < len(ordered)
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def _items_from(raw: Any) -> list[tuple[str, int, int, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise StripeError(400, "Invalid array", param="line_items")
    items = []
    for index, item in enumerate(raw):
        data = (item or {}).get("price_data") if isinstance(item, dict) else None
        if not isinstance(data, dict):
            raise StripeError(
                400,
                "Only line_items[][price_data] is emulated.",
                param=f"line_items[{index}][price_data]",
            )
        try:
            amount = int(data["unit_amount"])
            quantity = int(item.get("quantity", 1))
            name = data["product_data"]["name"]
            currency = data["currency"].lower()
        except (KeyError, TypeError, ValueError):
            raise StripeError(
                400, "Invalid price_data.", param=f"line_items[{index}][price_data]"
            ) from None
        items.append((name, amount, quantity, currency))
    return items


def _reference(value: str | None) -> str | None:
    """Stripe silently drops a ``client_reference_id`` it does not accept."""
    return value if value and _CLIENT_REFERENCE.fullmatch(value) else None


# --- webhooks --------------------------------------------------------------------------------


def signature_header(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """``Stripe-Signature`` exactly as Stripe makes it."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def send_event(state: EmulatorState, kind: str, obj: Json) -> Json:
    """Build the event and POST it, signed, to every target (two tries each)."""
    event = template("event")
    event.update(
        id="evt_" + _random(24),
        object="event",
        type=kind,
        created=int(time.time()),
        livemode=False,
        pending_webhooks=len(state.webhook_targets),
        data={"object": copy.deepcopy(obj)},
        request={"id": None, "idempotency_key": None},
    )
    payload = json.dumps(event).encode()
    outcomes = []
    for url, secret in state.webhook_targets:
        outcome = "not sent"
        for _ in range(2):
            try:
                answer = requests.post(
                    url,
                    data=payload,
                    timeout=5,
                    headers={
                        "Content-Type": "application/json; charset=utf-8",
                        "Stripe-Signature": signature_header(payload, secret),
                    },
                )
                outcome = str(answer.status_code)
                if answer.status_code < 500:
                    break
            except requests.RequestException as exc:
                outcome = type(exc).__name__
        outcomes.append(outcome)
    with state.lock:
        state.events.append((event, outcomes))
    return event


# --- hosted pages ------------------------------------------------------------------------------

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ title }} · Stripe emulator</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}
label{display:block;margin:.5rem 0}input[type=email]{width:100%;padding:.4rem}
button{padding:.5rem 1rem;font:inherit}table{width:100%;border-collapse:collapse}
td,th{text-align:left;padding:.25rem;border-bottom:1px solid #ddd}</style></head>
<body><main><p><small>Stripe emulator (test mode)</small></p><h1>{{ title }}</h1>{{ body|safe }}</main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> Response:
    return Response(render_template_string(_PAGE, title=title, body=body), status=status)


def _money(amount: int, currency: str) -> str:
    zero = currency.lower() in {"jpy", "krw", "vnd", "clp"}
    return f"{currency.upper()} {amount:,}" if zero else f"{currency.upper()} {amount / 100:,.2f}"


def _checkout_pages(app: Flask, state: EmulatorState) -> None:
    from markupsafe import escape

    @app.get("/pay/<link_id>")
    def pay_form(link_id: str) -> Response:
        link, items = _link(state, link_id)
        reference = _reference(request.args.get("client_reference_id"))
        locked = request.args.get("locked_prefilled_email")
        email = locked or request.args.get("prefilled_email", "")
        rows = "".join(
            f"<tr><td>{escape(n)} &times; {q}</td><td>{_money(a * q, c)}</td></tr>"
            for n, a, q, c in items
        )
        total = _money(sum(a * q for _, a, q, _ in items), items[0][3])
        hidden = (
            f'<input type="hidden" name="client_reference_id" value="{escape(reference)}">'
            if reference
            else ""
        )
        if locked:
            hidden += (
                f'<input type="hidden" name="locked_prefilled_email" value="{escape(locked)}">'
            )
        readonly = " readonly" if locked else ""
        body = f"""<table><tbody>{rows}</tbody><tfoot><tr><th>Total</th><th>{total}</th></tr></tfoot></table>
<form method="post">{hidden}
<label for="email">Email</label><input id="email" type="email" name="email" value="{escape(email)}" required{readonly}>
<fieldset><legend>Payment method</legend>
<label><input type="radio" name="payment_method" value="card" checked> Card (4242 4242 4242 4242)</label>
<label><input type="radio" name="payment_method" value="konbini"> Konbini (pay at a convenience store)</label>
</fieldset><button type="submit">Pay {total}</button></form>"""
        return _page(f"Pay {escape(link['id'])}", body)

    @app.post("/pay/<link_id>")
    def pay(link_id: str) -> Response:
        link, items = _link(state, link_id)
        locked = request.form.get("locked_prefilled_email")
        email = (locked or request.form.get("email", "")).strip()
        method = request.form.get("payment_method", "card")
        if not email or "@" not in email or method not in ("card", "konbini"):
            return _page(
                "Check your details", "<p>Enter an email and choose a payment method.</p>", 400
            )
        session = state.add_order(
            email,
            client_reference_id=_reference(request.form.get("client_reference_id")),
            currency=items[0][3],
            items=[(n, a, q) for n, a, q, _ in items],
            payment_status="paid" if method == "card" else "unpaid",
            payment_method=method,
            payment_link=link_id,
        )
        send_event(state, "checkout.session.completed", session)
        if method == "konbini":
            return redirect(f"/vouchers/{session['payment_intent']}")
        after = link.get("after_completion") or {}
        if after.get("type") == "redirect":
            url = after["redirect"]["url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
            return redirect(url)
        return _page("Thanks for your payment", f"<p>Session {escape(session['id'])} is paid.</p>")

    @app.get("/vouchers/<intent_id>")
    def voucher(intent_id: str) -> Response:
        intent = state.payment_intents.get(intent_id) or abort(404)
        if intent["status"] == "succeeded":
            return _page("Paid", "<p>This payment has been received. You can close this page.</p>")
        details = (intent.get("next_action") or {}).get("konbini_display_details") or {}
        expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(details.get("expires_at", 0)))
        body = f"""<p>Pay {_money(intent["amount"], intent["currency"])} at a convenience store before {expires}.</p>
<p>Payment code: <strong>123456</strong></p>
<form method="post" action="/vouchers/{escape(intent_id)}/pay"><button type="submit">Mark as paid (test mode)</button></form>"""
        return _page("Konbini payment voucher", body)

    @app.post("/vouchers/<intent_id>/pay")
    def voucher_paid(intent_id: str) -> Response:
        with state.lock:
            session = next(
                (s for s in state.sessions.values() if s.get("payment_intent") == intent_id), None
            )
            if session is None:
                abort(404)
            already = session["payment_status"] == "paid"
            state.mark_paid(session["id"])
        if not already:
            send_event(state, "checkout.session.async_payment_succeeded", session)
        return redirect(f"/vouchers/{intent_id}")

    @app.get("/invoices/<invoice_id>")
    def invoice_page(invoice_id: str) -> Response:
        invoice = state.invoices.get(invoice_id) or abort(404)
        total = _money(invoice["total"], invoice["currency"])
        return _page("Invoice", f"<p>Invoice {escape(invoice_id)}: {total}.</p>")

    @app.get("/invoices/<invoice_id>/pdf")
    def invoice_pdf(invoice_id: str) -> Response:
        if invoice_id not in state.invoices:
            abort(404)
        return Response(b"%PDF-1.4\n%emulated invoice\n", mimetype="application/pdf")

    @app.get("/receipts/<charge_id>")
    def receipt(charge_id: str) -> Response:
        charge = state.charges.get(charge_id) or abort(404)
        return _page("Receipt", f"<p>Paid {_money(charge['amount'], charge['currency'])}.</p>")

    @app.get("/billing/<portal_id>")
    def billing(portal_id: str) -> Response:
        portal = state.portal_sessions.get(portal_id) or abort(404)
        back = escape(portal.get("return_url") or "/")
        return _page(
            "Billing portal",
            f'<p>Your invoices and payment methods.</p><p><a href="{back}">Return</a></p>',
        )


def _link(state: EmulatorState, link_id: str) -> tuple[Json, list[tuple[str, int, int, str]]]:
    link = state.payment_links.get(link_id)
    if link is None or not link.get("active", True):
        abort(404)
    return link, state.link_items[link_id]
