"""The ``/v1`` API: the Stripe endpoints the portal, the demo and the tests call.

Each handler takes the request's :class:`Params`, takes every parameter it knows (what
is left over is Stripe's "unknown parameter" error) and returns the JSON body. Handlers
run under the state's lock and their answer is serialised before it is released, so
they can return stored objects without copying them.
"""

from __future__ import annotations

import hmac
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, g, request
from werkzeug.exceptions import InternalServerError

from portal.devstack.stripe_emulator import faults, objects
from portal.devstack.stripe_emulator.expansion import Tree, expand, fields_of, kinds_in, requested
from portal.devstack.stripe_emulator.objects import Json, list_object, new_id
from portal.devstack.stripe_emulator.state import PAYMENT_METHODS, EmulatorState
from portal.devstack.stripe_emulator.wire import (
    Paging,
    Params,
    StripeError,
    missing,
    parse_params,
)

NO_KEY = (
    "You did not provide an API key. You need to provide your API key in the Authorization"
    " header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See"
    " https://stripe.com/docs/api#authentication for details, or we can help at"
    " https://support.stripe.com/."
)
#: Stripe's 400 when the account has not saved its customer portal settings (test mode).
PORTAL_NOT_CONFIGURED = (
    "No configuration provided and your test mode default configuration has not been"
    " created. Provide a configuration or create your default by saving your customer"
    " portal settings in test mode at https://dashboard.stripe.com/test/settings/billing/portal."
)
#: Line items an expanded ``line_items`` shows; the rest are paged from ``…/line_items``.
EXPANDED_LINE_ITEMS = 10

Handler = Callable[..., Json]
_SEARCH_CLAUSE = re.compile(
    r"\s*(email|name|phone)\s*:\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*"
)
_KEY_PREFIX = re.compile(r"(?:sk|rk|pk)_(?:test|live)_")


def make_blueprint(state: EmulatorState, api_key: str) -> Blueprint:
    """The API as a blueprint: auth, call log, latency and ``Request-Id`` on every call."""
    blueprint = Blueprint("stripe_api", __name__, url_prefix="/v1")
    api = _Api(state)
    replays = _IdempotencyKeys()

    @blueprint.before_request
    def gate() -> Response | None:
        g.request_id = new_id("req_", 14)
        state.record_call(request.method, request.path, _pairs())
        if state.latency_seconds > 0:
            time.sleep(state.latency_seconds)
        refused = _refusal(api_key)
        if refused:
            return _error(refused)
        return _fault(state) or _forbidden(state)

    @blueprint.after_request
    def stamp(response: Response) -> Response:
        response.headers["Request-Id"] = g.request_id
        return response

    for method, rule, handler in api.routes():
        view = _view(state, handler, replays)
        blueprint.add_url_rule(rule, handler.__name__, view, methods=[method])
    blueprint.add_url_rule(
        "/<path:rest>",
        "unrecognized",
        _unrecognized,
        methods=["GET", "POST", "DELETE", "PUT", "PATCH"],
    )
    blueprint.register_error_handler(InternalServerError, _server_error)
    return blueprint


# --- plumbing ------------------------------------------------------------------------------


def _view(
    state: EmulatorState, handler: Handler, replays: _IdempotencyKeys
) -> Callable[..., Response]:
    def view(**ids: str) -> Response:
        try:
            params = parse_params(_pairs())
            replayed = replays.replay(params)
        except StripeError as exc:
            return _error(exc)
        if replayed is not None:
            return replayed
        try:
            with state.lock:
                body = json.dumps(handler(Params(params), **ids))
            response = Response(body, 200, mimetype="application/json")
        except StripeError as exc:
            response = _error(exc)
        replays.remember(params, response)
        return response

    return view


def _fault(state: EmulatorState) -> Response | None:
    """The answer of a switched-on fault (after a hang, none: the request goes on)."""
    fault = state.faults.take(request.path)
    if fault is None:
        return None
    answered = faults.answer(fault)
    if answered is None:
        time.sleep(fault.seconds)
        return None
    error, headers = answered
    response = _error(error)
    response.headers.update(headers)
    return response


def _forbidden(state: EmulatorState) -> Response | None:
    """Stripe's 403 when the (restricted) key lacks the endpoint's permission."""
    try:
        state.faults.check_endpoint(request.method, request.path, _masked_key())
    except StripeError as exc:
        return _error(exc)
    return None


def _masked_key() -> str:
    return mask_key(_presented_key() or "")


def _pairs() -> list[tuple[str, str]]:
    pairs = list(request.args.items(multi=True))
    if request.method == "POST":
        pairs += list(request.form.items(multi=True))
    return pairs


def _error(error: StripeError) -> Response:
    response = Response(json.dumps(error.body), error.status, mimetype="application/json")
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="Stripe"'
    return response


def _refusal(api_key: str) -> StripeError | None:
    """Stripe's 401 for a missing or wrong key (Bearer, or Basic with the key as user)."""
    presented = _presented_key()
    if presented is None:
        return StripeError(401, NO_KEY)
    if not hmac.compare_digest(presented.encode(), api_key.encode()):
        return StripeError(401, f"Invalid API Key provided: {mask_key(presented)}")
    return None


def _presented_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if request.authorization is not None and request.authorization.type == "basic":
        return request.authorization.username or None
    return None


def mask_key(key: str) -> str:
    """A key as Stripe quotes it back: its prefix, stars, and at most its last 4 characters."""
    prefix = _KEY_PREFIX.match(key)
    head = prefix.group(0) if prefix else ""
    rest = key[len(head) :]
    if len(rest) <= 8:
        return head + "*" * len(rest)
    return head + "*" * (len(rest) - 4) + rest[-4:]


def _unrecognized(rest: str) -> Response:
    return _error(
        StripeError(
            404,
            f"Unrecognized request URL ({request.method}: /v1/{rest}). Please see"
            " https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )
    )


def _server_error(_: InternalServerError) -> Response:
    # The emulator has a bug: answer as Stripe does for its own (the traceback is logged).
    return _error(StripeError(500, "The Stripe emulator failed; see its log.", kind="api_error"))


class _IdempotencyKeys:
    """Stripe's ``Idempotency-Key``: a POST retried with the same key gets the first
    answer again (the SDK sends a key with every POST, and retries with it)."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[Json, int, bytes]] = {}

    def replay(self, params: Json) -> Response | None:
        key = self._key()
        if key is None or key not in self._answers:
            return None
        first_params, status, body = self._answers[key]
        if first_params != params:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters"
                " they were first used with.",
                kind="idempotency_error",
            )
        response = Response(body, status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response

    def remember(self, params: Json, response: Response) -> None:
        key = self._key()
        if key is not None and response.status_code < 500:
            self._answers.setdefault(key, (params, response.status_code, response.get_data()))

    @staticmethod
    def _key() -> str | None:
        return request.headers.get("Idempotency-Key") if request.method == "POST" else None


# --- handlers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemSpec:
    """One requested line item, checked before anything is created."""

    quantity: int
    price: Json | None = None
    product: str | None = None
    name: str | None = None
    unit_amount: int = 0
    currency: str = ""

    @property
    def item_currency(self) -> str:
        return self.price["currency"] if self.price else self.currency

    def build(self, state: EmulatorState) -> Json:
        """The line item, creating the inline price (and product) ``price_data`` asks for."""
        price = self.price
        if price is None and self.product:
            price = state.price_of(self.product, self.unit_amount, self.currency, active=False)
        if price is None:
            price = state.inline_price(self.name or "Item", self.unit_amount, self.currency)
        return state.line_item(price, self.quantity)


class _Api:
    """The endpoint handlers; ``routes()`` says which URL each answers."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/checkout/sessions", self.list_sessions),
            ("POST", "/checkout/sessions", self.create_session),
            ("GET", "/checkout/sessions/<session_id>", self.retrieve_session),
            ("GET", "/checkout/sessions/<session_id>/line_items", self.session_line_items),
            ("POST", "/checkout/sessions/<session_id>/expire", self.expire_session),
            ("GET", "/payment_links", self.list_payment_links),
            ("POST", "/payment_links", self.create_payment_link),
            ("GET", "/payment_links/<link_id>", self.retrieve_payment_link),
            ("GET", "/payment_links/<link_id>/line_items", self.payment_link_line_items),
            ("GET", "/payment_intents/<intent_id>", self.retrieve_payment_intent),
            ("POST", "/payment_intents/<intent_id>", self.update_payment_intent),
            ("POST", "/invoices/<invoice_id>", self.update_invoice),
            ("GET", "/charges/<charge_id>", self.retrieve_charge),
            ("GET", "/refunds", self.list_refunds),
            ("GET", "/refunds/<refund_id>", self.retrieve_refund),
            ("GET", "/disputes", self.list_disputes),
            ("GET", "/invoices/<invoice_id>", self.retrieve_invoice),
            ("GET", "/invoice_payments", self.list_invoice_payments),
            ("GET", "/invoice_payments/<payment_id>", self.retrieve_invoice_payment),
            ("POST", "/prices", self.create_price),
            ("GET", "/prices/<price_id>", self.retrieve_price),
            ("POST", "/products", self.create_product),
            ("GET", "/products/<product_id>", self.retrieve_product),
            ("POST", "/billing_portal/sessions", self.create_portal_session),
            ("GET", "/billing_portal/configurations", self.list_portal_configurations),
            ("GET", "/customers/search", self.search_customers),
            ("GET", "/customers/<customer_id>", self.retrieve_customer),
        ]

    # checkout sessions

    def list_sessions(self, params: Params) -> Json:
        tree = requested(params, "list:checkout.session")
        tests = _session_filters(params)
        paging = Paging.take(params)
        params.finish()
        found = [s for s in self.state.sessions.values() if all(t(s) for t in tests)]
        page = paging.page(
            sorted(found, key=_newest_first),
            "/v1/checkout/sessions",
            key=_newest_first,
            find=self.state.sessions.get,
            kind="checkout.session",
        )
        return self._expand(page, "list:checkout.session", tree)

    def retrieve_session(self, params: Params, session_id: str) -> Json:
        return self._retrieve(params, "checkout.session", session_id, "session")

    def session_line_items(self, params: Params, session_id: str) -> Json:
        self._found("checkout.session", session_id, "session")
        url = f"/v1/checkout/sessions/{session_id}/line_items"
        return self._items_page(params, self.state.line_items[session_id], url)

    def create_session(self, params: Params) -> Json:
        mode = params.choice("mode", ("payment", "setup", "subscription"))
        if mode != "payment":
            raise StripeError(400, "The emulator only has mode=payment.", param="mode")
        specs = self._item_specs(params, quantity_required=False)
        customer = self._customer_param(params)
        email = params.string("customer_email")
        if customer and email:
            raise StripeError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                param="customer_email",
            )
        fields: Json = {
            "customer": customer,
            "customer_email": email,
            "client_reference_id": params.string("client_reference_id", max_length=200),
            "success_url": _url(params, "success_url"),
            "cancel_url": _url(params, "cancel_url"),
            "payment_method_types": _methods(params) or ["card"],
            "metadata": params.metadata(),
            "customer_creation": params.choice(
                "customer_creation", ("always", "if_required"), default="if_required"
            ),
        }
        params.finish()
        session = self.state.open_session([spec.build(self.state) for spec in specs])
        session.update(fields)
        return session

    def expire_session(self, params: Params, session_id: str) -> Json:
        params.finish()
        session = self._found("checkout.session", session_id, "session")
        if session["status"] != "open":
            raise StripeError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This'
                f' Checkout Session has a status of "{session["status"]}".',
            )
        return self.state.expire_session(session_id)

    # payment links

    def create_payment_link(self, params: Params) -> Json:
        specs = self._item_specs(params, quantity_required=True)
        after = params.hash("after_completion")
        fields: Json = {
            "metadata": params.metadata(),
            "customer_creation": params.choice(
                "customer_creation", ("always", "if_required"), default="if_required"
            ),
            "payment_method_types": _methods(params),
        }
        if after is not None:
            fields["after_completion"] = _after_completion(after)
        params.finish()
        link = self.state.add_payment_link([spec.build(self.state) for spec in specs])
        link.update(fields)
        return link

    def list_payment_links(self, params: Params) -> Json:
        paging = Paging.take(params)
        params.finish()
        newest_first = list(reversed(self.state.payment_links.values()))
        rank = {link["id"]: n for n, link in enumerate(newest_first)}
        return paging.page(
            newest_first,
            "/v1/payment_links",
            key=lambda link: rank[link["id"]],
            find=self.state.payment_links.get,
            kind="payment_link",
        )

    def retrieve_payment_link(self, params: Params, link_id: str) -> Json:
        return self._retrieve(params, "payment_link", link_id, "payment_link")

    def payment_link_line_items(self, params: Params, link_id: str) -> Json:
        self._found("payment_link", link_id, "payment_link")
        url = f"/v1/payment_links/{link_id}/line_items"
        return self._items_page(params, self.state.link_items[link_id], url)

    # payments

    def retrieve_payment_intent(self, params: Params, intent_id: str) -> Json:
        return self._retrieve(params, "payment_intent", intent_id, "intent")

    def update_payment_intent(self, params: Params, intent_id: str) -> Json:
        return self._update_metadata(params, "payment_intent", intent_id, "intent")

    def update_invoice(self, params: Params, invoice_id: str) -> Json:
        return self._update_metadata(params, "invoice", invoice_id, "invoice")

    def _update_metadata(self, params: Params, kind: str, object_id: str, param: str) -> Json:
        """An update that sets ``metadata`` (the only field the emulator lets change):
        merged key by key, an empty value removing its key, as at Stripe."""
        obj = self._found(kind, object_id, param)
        metadata = params.metadata()
        params.finish()
        merged = {**obj["metadata"], **metadata}
        obj["metadata"] = {key: value for key, value in merged.items() if value != ""}
        return obj

    def retrieve_charge(self, params: Params, charge_id: str) -> Json:
        return self._retrieve(params, "charge", charge_id, "charge")

    def list_refunds(self, params: Params) -> Json:
        return self._list_of_payment(params, "refund", self.state.refunds)

    def list_disputes(self, params: Params) -> Json:
        return self._list_of_payment(params, "dispute", self.state.disputes)

    def _list_of_payment(self, params: Params, kind: str, store: dict[str, Json]) -> Json:
        """Refunds or disputes, newest first, by ``charge``, ``payment_intent``, ``created``."""
        tree = requested(params, f"list:{kind}")
        tests = [
            _field_is(name, value)
            for name in ("charge", "payment_intent")
            if (value := params.string(name)) is not None
        ]
        if params.has("created"):
            tests.append(_created_test(params))
        paging = Paging.take(params)
        params.finish()
        found = [obj for obj in store.values() if all(t(obj) for t in tests)]
        page = paging.page(
            sorted(found, key=_newest_first),
            f"/v1/{kind}s",
            key=_newest_first,
            find=store.get,
            kind=kind,
        )
        return self._expand(page, f"list:{kind}", tree)

    def retrieve_refund(self, params: Params, refund_id: str) -> Json:
        return self._retrieve(params, "refund", refund_id, "refund")

    # invoices

    def retrieve_invoice(self, params: Params, invoice_id: str) -> Json:
        return self._retrieve(params, "invoice", invoice_id, "invoice")

    def list_invoice_payments(self, params: Params) -> Json:
        tree = requested(params, "list:invoice_payment")
        tests = _invoice_payment_filters(params)
        paging = Paging.take(params)
        params.finish()
        payments = self.state.invoice_payments
        found = [p for p in payments.values() if all(t(p) for t in tests)]
        page = paging.page(
            sorted(found, key=_newest_first),
            "/v1/invoice_payments",
            key=_newest_first,
            find=payments.get,
            kind="invoice_payment",
        )
        return self._expand(page, "list:invoice_payment", tree)

    def retrieve_invoice_payment(self, params: Params, payment_id: str) -> Json:
        return self._retrieve(params, "invoice_payment", payment_id, "invoice_payment")

    # catalogue

    def create_product(self, params: Params) -> Json:
        name = params.string("name", required=True) or ""
        description = params.string("description")
        metadata = params.metadata()
        params.finish()
        product = self.state.add_product(name)
        product.update(description=description, metadata=metadata)
        return product

    def retrieve_product(self, params: Params, product_id: str) -> Json:
        return self._retrieve(params, "product", product_id, "id")

    def create_price(self, params: Params) -> Json:
        currency = _currency(params)
        unit_amount = params.integer("unit_amount", required=True, low=0) or 0
        product_id = params.string("product")
        product_data = params.hash("product_data")
        metadata = params.metadata()
        params.finish()
        if product_id is not None:
            self._found("product", product_id, "product", status=400)
        elif product_data is not None:
            name = product_data.string("name", required=True) or ""
            product_data.finish()
            product_id = self.state.add_product(name)["id"]
        else:
            raise StripeError(400, "Missing required param: product.", param="product")
        price = self.state.price_of(product_id, unit_amount, currency)
        price["metadata"] = metadata
        return price

    def retrieve_price(self, params: Params, price_id: str) -> Json:
        return self._retrieve(params, "price", price_id, "price")

    # customers and the billing portal

    def create_portal_session(self, params: Params) -> Json:
        customer = self._customer_param(params, required=True) or ""
        return_url = _url(params, "return_url")
        params.finish()
        if not self.state.portal_configured:
            raise StripeError(400, PORTAL_NOT_CONFIGURED)
        return self.state.add_portal_session(customer, return_url)

    def list_portal_configurations(self, params: Params) -> Json:
        default = params.string("is_default")
        paging = Paging.take(params)
        params.finish()
        saved = [objects.portal_configuration()] if self.state.portal_configured else []
        if default == "false":
            saved = []
        return list_object(saved[: paging.limit], "/v1/billing_portal/configurations")

    def retrieve_customer(self, params: Params, customer_id: str) -> Json:
        return self._retrieve(params, "customer", customer_id, "customer")

    def search_customers(self, params: Params) -> Json:
        query = params.string("query", required=True) or ""
        limit = params.integer("limit", low=1, high=100) or 10
        start = _page_offset(params.string("page"))
        params.finish()
        matches = _search_matches(query)
        # Search is eventually consistent: what was created in the last moments is missing.
        lag = self.state.search_lag_seconds
        found = [
            c
            for c in sorted(self.state.customers.values(), key=_newest_first)
            if (not lag or c["created"] <= time.time() - lag)
            and all(_matches(c, m) for m in matches)
        ]
        more = len(found) > start + limit
        return {
            "object": "search_result",
            "data": found[start : start + limit],
            "has_more": more,
            "next_page": f"page_{start + limit}" if more else None,
            "url": "/v1/customers/search",
        }

    # shared

    def _retrieve(self, params: Params, kind: str, object_id: str, param: str) -> Json:
        tree = requested(params, kind)
        params.finish()
        return self._expand(self._found(kind, object_id, param), kind, tree)

    def _found(self, kind: str, object_id: str, param: str, *, status: int = 404) -> Json:
        found = (self.state.store(kind) or {}).get(object_id)
        if found is None:
            raise missing(kind, object_id, param, status=status)
        return found

    def _customer_param(self, params: Params, *, required: bool = False) -> str | None:
        customer = params.string("customer", required=required)
        if customer is not None:
            self._found("customer", customer, "customer", status=400)
        return customer

    def _items_page(self, params: Params, items: list[Json], url: str) -> Json:
        tree = requested(params, "list:item")
        paging = Paging.take(params)
        params.finish()
        rank = {item["id"]: n for n, item in enumerate(items)}
        page = paging.page(
            items,
            url,
            key=lambda item: rank[item["id"]],
            find=lambda item_id: items[rank[item_id]] if item_id in rank else None,
            kind="line_item",
        )
        return self._expand(page, "list:item", tree)

    def _item_specs(self, params: Params, *, quantity_required: bool) -> list[_ItemSpec]:
        specs = [
            self._item_spec(item, quantity_required)
            for item in params.hashes("line_items", required=True)
        ]
        if not specs:
            raise StripeError(400, "Missing required param: line_items.", param="line_items")
        if len({spec.item_currency for spec in specs}) > 1:
            raise StripeError(400, "All line items must use the same currency.", param="line_items")
        return specs

    def _item_spec(self, item: Params, quantity_required: bool) -> _ItemSpec:
        quantity = item.integer("quantity", required=quantity_required, low=1, high=999_999)
        price_id = item.string("price")
        data = item.hash("price_data")
        item.finish()
        if price_id is not None and data is not None:
            raise StripeError(
                400,
                "You may only specify one of these parameters: price, price_data.",
                param=item.name("price_data"),
            )
        if price_id is not None:
            price = self._found("price", price_id, item.name("price"), status=400)
            return _ItemSpec(quantity or 1, price=price)
        if data is None:
            raise StripeError(
                400, f"Missing required param: {item.name('price')}.", param=item.name("price")
            )
        return self._price_data_spec(data, quantity or 1)

    def _price_data_spec(self, data: Params, quantity: int) -> _ItemSpec:
        currency = _currency(data)
        unit_amount = data.integer("unit_amount", required=True, low=0) or 0
        product = data.string("product")
        product_data = data.hash("product_data")
        data.finish()
        if product is not None:
            self._found("product", product, data.name("product"), status=400)
            return _ItemSpec(quantity, product=product, unit_amount=unit_amount, currency=currency)
        if product_data is None:
            name = data.name("product_data")
            raise StripeError(400, f"Missing required param: {name}.", param=name)
        product_name = product_data.string("name", required=True)
        product_data.finish()
        return _ItemSpec(quantity, name=product_name, unit_amount=unit_amount, currency=currency)

    def _expand(self, obj: Json, kind: str, tree: Tree) -> Json:
        self.state.faults.check_expansions(kinds_in(tree), _masked_key())
        return expand(obj, kind, tree, self._resolve)

    def _resolve(self, kind: str, field: str, obj: Json) -> Any:
        """The expanded value of ``obj[field]``: the stored object its id names."""
        if field == "line_items":
            return self._line_items_of(kind, obj)
        if (kind, field) == ("charge", "refunds"):
            refunds = self.state.refunds_of(obj["id"])
            return list_object(refunds, f"/v1/charges/{obj['id']}/refunds")
        if (kind, field) == ("invoice", "payments"):
            payments = self.state.payments_of(obj["id"])
            return list_object(payments, f"/v1/invoice_payments?invoice={obj['id']}")
        if field == "taxes":
            return obj.get("taxes") or []  # the emulator has no tax rates
        value = obj.get(field)
        if not isinstance(value, str):
            return value  # null, or already an object (a line item's price)
        return (self.state.store(fields_of(kind)[field]) or {}).get(value, value)

    def _line_items_of(self, kind: str, obj: Json) -> Json:
        if kind == "payment_link":
            items, url = (
                self.state.link_items[obj["id"]],
                f"/v1/payment_links/{obj['id']}/line_items",
            )
        else:
            items, url = (
                self.state.line_items[obj["id"]],
                f"/v1/checkout/sessions/{obj['id']}/line_items",
            )
        return list_object(
            items[:EXPANDED_LINE_ITEMS], url, has_more=len(items) > EXPANDED_LINE_ITEMS
        )


# --- parameter helpers ---------------------------------------------------------------------


def _newest_first(obj: Json) -> tuple[int, str]:
    return (-int(obj["created"]), obj["id"])


def _session_filters(params: Params) -> list[Callable[[Json], bool]]:
    tests: list[Callable[[Json], bool]] = []
    details = params.hash("customer_details")
    if details is not None:
        email = details.string("email", required=True)
        details.finish()
        # Exact and case-sensitive, as at Stripe.
        tests.append(lambda s: (s["customer_details"] or {}).get("email") == email)
    if params.has("status"):
        tests.append(_field_is("status", params.choice("status", ("open", "complete", "expired"))))
    for name in ("customer", "payment_intent", "payment_link", "subscription"):
        value = params.string(name)
        if value is not None:
            tests.append(_field_is(name, value))
    if params.has("created"):
        tests.append(_created_test(params))
    return tests


def _invoice_payment_filters(params: Params) -> list[Callable[[Json], bool]]:
    tests: list[Callable[[Json], bool]] = []
    invoice = params.string("invoice")
    if invoice is not None:
        tests.append(_field_is("invoice", invoice))
    if params.has("status"):
        tests.append(_field_is("status", params.choice("status", ("canceled", "open", "paid"))))
    payment = params.hash("payment")
    if payment is not None:
        kind = payment.choice("type", ("payment_intent", "payment_record"))
        wanted: dict[str, str | None] = {
            key: payment.string(key) for key in ("payment_intent", "payment_record")
        }
        payment.finish()
        wanted = {"type": kind, **{k: v for k, v in wanted.items() if v is not None}}
        tests.append(lambda p: all(p["payment"].get(k) == v for k, v in wanted.items()))
    return tests


def _field_is(name: str, wanted: str) -> Callable[[Json], bool]:
    return lambda obj: obj.get(name) == wanted


def _created_test(params: Params) -> Callable[[Json], bool]:
    """``created=<ts>`` or ``created[gt|gte|lt|lte]=<ts>``."""
    if isinstance(params.peek("created"), str):
        exact = params.integer("created")
        return lambda obj: obj["created"] == exact
    bounds = params.hash("created")
    assert bounds is not None
    limits = {op: bounds.integer(op) for op in ("gt", "gte", "lt", "lte")}
    bounds.finish()
    checks: dict[str, Callable[[int, int], bool]] = {
        "gt": int.__gt__,
        "gte": int.__ge__,
        "lt": int.__lt__,
        "lte": int.__le__,
    }
    return lambda obj: all(
        checks[op](int(obj["created"]), bound) for op, bound in limits.items() if bound is not None
    )


def _currency(params: Params) -> str:
    currency = (params.string("currency", required=True) or "").lower()
    if not re.fullmatch(r"[a-z]{3}", currency):
        raise StripeError(400, f"Invalid currency: {currency}", param=params.name("currency"))
    return currency


def _methods(params: Params) -> list[str] | None:
    methods = params.strings("payment_method_types")
    for index, method in enumerate(methods or []):
        if method not in PAYMENT_METHODS:
            raise StripeError(
                400,
                f"Invalid payment_method_types[{index}]: must be one of "
                + ", ".join(PAYMENT_METHODS),
                param=f"payment_method_types[{index}]",
            )
    return methods


def _url(params: Params, key: str, *, required: bool = False) -> str | None:
    value = params.string(key, required=required, max_length=2048)
    if value is not None and not re.match(r"https?://[^/\s]+", value):
        raise StripeError(400, "Not a valid URL", param=params.name(key))
    return value


def _after_completion(after: Params) -> Json:
    """``after_completion``: a redirect (with ``{CHECKOUT_SESSION_ID}``) or Stripe's page."""
    kind = after.choice("type", ("redirect", "hosted_confirmation"))
    redirect = after.hash("redirect", required=kind == "redirect")
    hosted = after.hash("hosted_confirmation")
    after.finish()
    if kind == "redirect":
        assert redirect is not None
        url = _url(redirect, "url", required=True)
        redirect.finish()
        return {"type": "redirect", "redirect": {"url": url}}
    message = hosted.string("custom_message", max_length=500) if hosted else None
    if hosted:
        hosted.finish()
    return {"type": "hosted_confirmation", "hosted_confirmation": {"custom_message": message}}


def _search_matches(query: str) -> list[tuple[str, str]]:
    """``email:'a@example.com' AND name:"Hanako"`` as ``[(field, value), …]``."""
    matches = []
    for clause in re.split(r"\s+AND\s+", query.strip()):
        found = _SEARCH_CLAUSE.fullmatch(clause)
        if not found:
            raise StripeError(
                400,
                f"The emulator's search understands email:'…', name:'…' and phone:'…' joined"
                f" by AND, not: {clause}",
                param="query",
            )
        value = found.group(2) if found.group(2) is not None else found.group(3)
        matches.append((found.group(1), re.sub(r"\\(.)", r"\1", value)))
    return matches


def _matches(customer: Json, match: tuple[str, str]) -> bool:
    """Stripe's ``field:'value'``: an exact match, regardless of letter case."""
    name, value = match
    found = customer.get(name)
    return isinstance(found, str) and found.casefold() == value.casefold()


def _page_offset(page: str | None) -> int:
    if page is None:
        return 0
    if not re.fullmatch(r"page_\d{1,9}", page):
        raise StripeError(400, "Invalid page token.", param="page")
    return int(page.removeprefix("page_"))
