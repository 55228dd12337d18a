"""A small Stripe at the HTTP boundary (``responses``), for the portal's unit tests.

The real ``stripe`` SDK sends real HTTP requests; this answers them the way Stripe's API
does for the calls the portal makes, and counts them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import responses

API = "https://api.stripe.com"
EXPANDED_LINE_ITEMS = 10  # how many line items Stripe includes when expanded in a list
#: Stripe's 400 for a billing portal session when no portal settings were ever saved.
NO_PORTAL = (
    "No configuration provided and your live mode default configuration has not been created."
    " Provide a configuration or create your default by saving your customer portal settings"
    " in live mode at https://dashboard.stripe.com/settings/billing/portal."
)


class StripeStub:
    """Checkout Sessions kept in memory and served over ``responses``."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        #: The underlying mock, for tests that add a one-off Stripe answer.
        self.mock = mock
        self.sessions: list[dict[str, Any]] = []
        #: Invoice payments (``stripe_fixtures.invoice_payment``), for subscription orders.
        self.invoice_payments: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        #: When set, every call answers this HTTP status with Stripe's error body (only
        #: the next ``fail_times`` calls when that is set).
        self.fail_with: int | None = None
        self.fail_times: int | None = None
        #: With ``fail_with``: the error object (else a typical one for the status) and
        #: extra headers (``Retry-After``), as :meth:`refuse_permission` sets them.
        self.error: dict[str, Any] | None = None
        self.error_headers: dict[str, str] = {}
        #: When set, every call fails to connect.
        self.unreachable = False
        #: Seconds each answer takes (to see calls overlap), and the most seen at once.
        self.delay_seconds = 0.0
        self.most_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        base = re.escape(API)
        mock.add_callback(
            responses.GET, re.compile(base + r"/v1/checkout/sessions(\?.*)?$"), self._list
        )
        mock.add_callback(
            responses.GET,
            re.compile(base + r"/v1/checkout/sessions/[^/?]+/line_items(\?.*)?$"),
            self._line_items,
        )
        mock.add_callback(
            responses.GET,
            re.compile(base + r"/v1/checkout/sessions/[^/?]+(\?.*)?$"),
            self._retrieve,
        )

        mock.add_callback(
            responses.GET, re.compile(base + r"/v1/invoice_payments(\?.*)?$"), self._payments
        )
        mock.add_callback(responses.GET, re.compile(base + r"/v1/refunds(\?.*)?$"), self._refunds)
        mock.add_callback(responses.GET, re.compile(base + r"/v1/disputes(\?.*)?$"), self._disputes)

    def rate_limit(self, *, retry_after: int | None = None, times: int | None = None) -> None:
        """Answer Stripe's 429 (with ``Retry-After`` when given), ``times`` times or always."""
        self.fail_with, self.fail_times = 429, times
        self.error = {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Request rate limit exceeded. Learn more about rate limits here"
            " https://stripe.com/docs/rate-limits.",
        }
        self.error_headers = {} if retry_after is None else {"Retry-After": str(retry_after)}

    def refuse_permission(self, permission: str) -> None:
        """Answer every call as Stripe does when a restricted key lacks ``permission``."""
        self.fail_with = 403
        self.error = {
            "type": "invalid_request_error",
            "message": (
                "The provided key 'rk_test_********************1234' does not have the"
                " required permissions for this endpoint on account 'acct_1Test'. Having"
                f" the '{permission}' permission would allow this request to continue."
            ),
        }

    def serve_billing(self) -> None:
        """Answer customer search and billing portal sessions too, from ``customers``
        (``{"id", "email", "created"}``; search matches the email exactly, in any case)
        and ``portal_configured`` (else Stripe's 400 for a portal never set up)."""
        self.customers: list[dict[str, Any]] = []
        self.portal_configured = True
        #: When set, what every search finds, whatever it asked for.
        self.search_finds: list[dict[str, Any]] | None = None
        base = re.escape(API)
        self.mock.add_callback(
            responses.GET, re.compile(base + r"/v1/customers/search(\?.*)?$"), self._search
        )
        self.mock.add_callback(
            responses.POST, re.compile(base + r"/v1/billing_portal/sessions$"), self._portal
        )

    def _search(self, request: Any) -> tuple[int, dict[str, str], str]:
        def handle(_: str, params: dict[str, Any]) -> tuple[int, Any]:
            wanted = re.fullmatch(r"email:'(.*)'", params["query"])
            assert wanted, params["query"]
            found = [c for c in self.customers if c["email"].lower() == wanted.group(1).lower()]
            if self.search_finds is not None:
                found = self.search_finds
            found = found[: int(params.get("limit", 10))]
            body = {"object": "search_result", "data": found, "has_more": False}
            return 200, body | {"next_page": None, "url": "/v1/customers/search"}

        return self._answer(request, handle)

    def _portal(self, request: Any) -> tuple[int, dict[str, str], str]:
        sent = dict(parse_qsl(request.body or ""))

        def handle(_: str, __: dict[str, Any]) -> tuple[int, Any]:
            if not any(c["id"] == sent["customer"] for c in self.customers):
                return 400, _missing(sent["customer"], kind="customer", param="customer")
            if not self.portal_configured:
                return 400, {"error": {"type": "invalid_request_error", "message": NO_PORTAL}}
            url = f"https://billing.stripe.com/p/session/test_{sent['customer']}"
            return 200, {"id": "bps_1", "object": "billing_portal.session", "url": url}

        return self._answer(request, handle)

    def add(self, *sessions: dict[str, Any]) -> None:
        """Store sessions (from ``stripe_fixtures.checkout_session``)."""
        self.sessions.extend(sessions)

    def add_invoice_payment(self, payment: dict[str, Any]) -> None:
        """Store an invoice payment (from ``stripe_fixtures.invoice_payment``)."""
        self.invoice_payments.append(payment)

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def _answer(self, request: Any, handler: Any) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            time.sleep(self.delay_seconds)
            return self._answer_now(request, handler)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer_now(self, request: Any, handler: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        self.calls.append((request.method, parts.path))
        if self.unreachable:
            raise requests.ConnectionError("connection refused")
        headers = {"Request-Id": f"req_test{len(self.calls)}", "Content-Type": "application/json"}
        if self.fail_with and self.fail_times != 0:
            if self.fail_times is not None:
                self.fail_times -= 1
            error = {"error": self.error} if self.error else _error(self.fail_with)
            return self.fail_with, headers | self.error_headers, json.dumps(error)
        params = _params(parts.query)
        status, body = handler(parts.path, params)
        return status, headers, json.dumps(body)

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        def handle(_: str, params: dict[str, Any]) -> tuple[int, Any]:
            found = [s for s in self.sessions if _matches(s, params)]
            found.sort(key=lambda s: (-s["created"], s["id"]))
            page, has_more = _page(found, params)
            expand = {e.removeprefix("data.") for e in params.get("expand", [])}
            data = [_public(s, expand) for s in page]
            return 200, _list(data, has_more, "/v1/checkout/sessions")

        return self._answer(request, handle)

    def _retrieve(self, request: Any) -> tuple[int, dict[str, str], str]:
        def handle(path: str, params: dict[str, Any]) -> tuple[int, Any]:
            session = self._find(path.rsplit("/", 1)[-1])
            if session is None:
                return 404, _missing(path.rsplit("/", 1)[-1])
            return 200, _public(session, set(params.get("expand", [])))

        return self._answer(request, handle)

    def _line_items(self, request: Any) -> tuple[int, dict[str, str], str]:
        def handle(path: str, params: dict[str, Any]) -> tuple[int, Any]:
            session_id = path.split("/")[-2]
            session = self._find(session_id)
            if session is None:
                return 404, _missing(session_id)
            page, has_more = _page(session["_items"], params)
            return 200, _list(page, has_more, f"/v1/checkout/sessions/{session_id}/line_items")

        return self._answer(request, handle)

    def _payments(self, request: Any) -> tuple[int, dict[str, str], str]:
        def handle(_: str, params: dict[str, Any]) -> tuple[int, Any]:
            found = [
                p
                for p in self.invoice_payments
                if params.get("invoice", p["invoice"]) == p["invoice"]
                and params.get("payment[payment_intent]", p["_intent"]["id"]) == p["_intent"]["id"]
            ]
            expand = set(params.get("expand", []))
            data = [_public_payment(p, expand) for p in found]
            return 200, _list(data, False, "/v1/invoice_payments")

        return self._answer(request, handle)

    def _refunds(self, request: Any) -> tuple[int, dict[str, str], str]:
        def handle(_: str, params: dict[str, Any]) -> tuple[int, Any]:
            charges = [p["_intent"]["latest_charge"] for p in self.invoice_payments]
            charges += [(s.get("_intent") or {}).get("latest_charge") for s in self.sessions]
            found = [
                refund
                for charge in charges
                if charge and charge["id"] == params.get("charge")
                for refund in charge.get("_refunds", [])
            ]
            return 200, _list(found, False, "/v1/refunds")

        return self._answer(request, handle)

    def _disputes(self, request: Any) -> tuple[int, dict[str, str], str]:
        """``GET /v1/disputes?payment_intent=…``: a charge's ``_disputes`` (none unless set)."""

        def handle(_: str, params: dict[str, Any]) -> tuple[int, Any]:
            intents = [s.get("_intent") for s in self.sessions]
            intents += [p["_intent"] for p in self.invoice_payments]
            found = [
                dispute
                for intent in intents
                if intent and intent["id"] == params.get("payment_intent")
                for dispute in (intent.get("latest_charge") or {}).get("_disputes", [])
            ]
            return 200, _list(found, False, "/v1/disputes")

        return self._answer(request, handle)

    def _find(self, session_id: str) -> dict[str, Any] | None:
        return next((s for s in self.sessions if s["id"] == session_id), None)


def _matches(session: dict[str, Any], params: dict[str, Any]) -> bool:
    """The list filters the portal uses: exact email, status, intent, subscription, and
    the ``created`` range (dated views, ``portal watch``)."""
    intent = session.get("payment_intent")
    values = {
        "customer_details[email]": session["customer_details"]["email"],
        "status": session["status"],
        "payment_intent": intent["id"] if isinstance(intent, dict) else intent,
        "subscription": session.get("subscription"),
    }
    created = int(session["created"])
    in_range = int(params.get("created[gte]", created)) <= created < int(
        params.get("created[lt]", created + 1)
    ) and created <= int(params.get("created[lte]", created))
    return in_range and all(params.get(name, value) == value for name, value in values.items())


def _params(query: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if re.fullmatch(r"expand\[\d*\]", key):
            params.setdefault("expand", []).append(value)
        else:
            params[key] = value
    return params


def _page(items: list[dict[str, Any]], params: dict[str, Any]) -> tuple[list[dict], bool]:
    limit = int(params.get("limit", 10))
    start = 0
    if "starting_after" in params:
        ids = [i["id"] for i in items]
        start = ids.index(params["starting_after"]) + 1
    page = items[start : start + limit]
    return page, start + limit < len(items)


def _public(session: dict[str, Any], expand: set[str]) -> dict[str, Any]:
    body = {k: v for k, v in session.items() if not k.startswith("_")}
    wants_intent = any(path.startswith("payment_intent.latest_charge") for path in expand)
    if wants_intent and session.get("_intent"):
        body["payment_intent"] = session["_intent"]
    if "line_items" in expand:
        items = session["_items"]
        body["line_items"] = _list(
            items[:EXPANDED_LINE_ITEMS],
            len(items) > EXPANDED_LINE_ITEMS,
            f"/v1/checkout/sessions/{session['id']}/line_items",
        )
    return body


def _public_payment(payment: dict[str, Any], expand: set[str]) -> dict[str, Any]:
    body = {k: v for k, v in payment.items() if not k.startswith("_")}
    intent = payment["_intent"]
    if "data.payment.payment_intent.latest_charge" in expand:
        charge = {k: v for k, v in intent["latest_charge"].items() if not k.startswith("_")}
        shown = {**intent, "latest_charge": charge}
    else:
        shown = intent["id"]
    body["payment"] = {**payment["payment"], "payment_intent": shown}
    if "data.invoice" in expand:
        body["invoice"] = payment["_invoice"]
    return body


def _list(data: list[dict[str, Any]], has_more: bool, url: str) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _missing(object_id: str, *, kind: str = "checkout.session", param: str = "session") -> dict:
    return {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": param,
            "message": f"No such {kind}: '{object_id}'",
        }
    }


def _error(status: int) -> dict[str, Any]:
    kinds = {401: "invalid_request_error", 429: "invalid_request_error"}
    messages = {
        401: "Invalid API Key provided: sk_test_****1234",
        429: "Too many requests",
    }
    return {
        "error": {
            "type": kinds.get(status, "api_error"),
            "code": "rate_limit" if status == 429 else None,
            "message": messages.get(status, "Something went wrong on Stripe's end."),
        }
    }
