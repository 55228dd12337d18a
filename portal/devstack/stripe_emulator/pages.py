"""The buyer's pages Stripe hosts: Payment Link checkout, konbini voucher, receipt, billing.

Plain HTML with labelled controls, one stylesheet and no script (a strict CSP). As at
Stripe, opening a Payment Link makes an ``open`` Checkout Session; the form pays that
session, so the locked email and the ``client_reference_id`` come from the session the
server stored, never from the submitted form.
"""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, redirect, request
from jinja2 import DictLoader, Environment, select_autoescape
from werkzeug.wrappers import Response

from portal.devstack.stripe_emulator.objects import Json
from portal.devstack.stripe_emulator.state import EmulatorState

#: What Payment Links accept as ``client_reference_id``; anything else is dropped.
CLIENT_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,200}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
#: Methods the checkout form offers, with their labels.
FORM_METHODS = {
    "card": "Card (test card 4242 4242 4242 4242)",
    "konbini": "Konbini (pay in cash at a convenience store)",
}
_ZERO_DECIMAL = {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx",
                 "vnd", "vuv", "xaf", "xof", "xpf"}  # fmt: skip
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)

_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; }
header p, .hint { color: #555; font-size: .875rem; }
label { display: block; margin: .5rem 0; }
input[type=email] { width: 100%; padding: .4rem; font: inherit; box-sizing: border-box; }
input[readonly] { background: #eee; }
fieldset { margin: 1rem 0; }
button { padding: .5rem 1rem; font: inherit; }
table { width: 100%; border-collapse: collapse; }
td, th { text-align: left; padding: .25rem; border-bottom: 1px solid #ddd; }
[role=alert] { color: #a00; }
dt { font-weight: bold; }
"""

_TEMPLATES = {
    "base.html": """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Stripe emulator</title>
<link rel="stylesheet" href="/assets/emulator.css">
</head>
<body>
<header><p>Stripe emulator · test mode</p></header>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>
""",
    "pay.html": """{% extends "base.html" %}{% block content %}
<table>
<caption>Your order</caption>
<thead><tr><th scope="col">Item</th><th scope="col">Quantity</th><th scope="col">Amount</th></tr></thead>
<tbody>
{% for item in items %}<tr><td>{{ item.description }}</td><td>{{ item.quantity }}</td><td>{{ item.amount_total|money(item.currency) }}</td></tr>
{% endfor %}</tbody>
<tfoot><tr><th scope="row" colspan="2">Total</th><td>{{ total }}</td></tr></tfoot>
</table>
<form method="post">
<input type="hidden" name="session" value="{{ session_id }}">
{# Echoed for whoever reads the page; the server uses only the session's own values. #}
{% if reference %}<input type="hidden" name="client_reference_id" value="{{ reference }}">
{% endif %}{% if locked %}<input type="hidden" name="locked_prefilled_email" value="{{ email }}">
{% endif %}{% if error %}<p id="form-error" role="alert">{{ error }}</p>
{% endif %}<label for="email">Email</label>
<input id="email" type="email" name="email" value="{{ email }}" autocomplete="email" required
{%- if locked %} readonly aria-describedby="email-locked"{% endif %}
{%- if error %} aria-invalid="true" aria-errormessage="form-error"{% endif %}>
{% if locked %}<p id="email-locked" class="hint">Set by the shop; it cannot be changed.</p>
{% endif %}<fieldset>
<legend>Payment method</legend>
{% for value, label in methods %}<label><input type="radio" name="payment_method" value="{{ value }}"{% if loop.first %} checked{% endif %}> {{ label }}</label>
{% endfor %}</fieldset>
<button type="submit">Pay {{ total }}</button>
</form>
{% endblock %}""",
    "voucher.html": """{% extends "base.html" %}{% block content %}
<p>Pay <strong>{{ amount }}</strong> {{ where }}{% if expires %} before {{ expires }}{% endif %}.</p>
<dl>
{% for term, value in details %}<dt>{{ term }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
<form method="post" action="/vouchers/{{ intent_id }}/pay">
<button type="submit">Mark as paid (test mode)</button>
</form>
{% endblock %}""",
    "message.html": """{% extends "base.html" %}{% block content %}
{% for line in lines %}<p>{{ line }}</p>
{% endfor %}{% if link %}<p><a href="{{ link[0] }}">{{ link[1] }}</a></p>
{% endif %}{% endblock %}""",
}


def money(amount: int, currency: str) -> str:
    """``JPY 5,000`` / ``USD 19.99``: minor units shown in the currency's own precision."""
    code = currency.upper()
    if currency.lower() in _ZERO_DECIMAL:
        return f"{code} {amount:,}"
    return f"{code} {amount / 100:,.2f}"


def _environment() -> Environment:
    env = Environment(loader=DictLoader(_TEMPLATES), autoescape=select_autoescape(default=True))
    env.filters["money"] = money
    return env


_ENV = _environment()


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(_ENV.get_template(template).render(**context), status, mimetype="text/html")


def _message(
    title: str, *lines: str, status: int = 200, link: tuple[str, str] | None = None
) -> Response:
    return _page("message.html", status, title=title, lines=lines, link=link)


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def valid_reference(value: str | None) -> str | None:
    """``client_reference_id`` as Payment Links take it: silently dropped when invalid."""
    return value if value is not None and CLIENT_REFERENCE.fullmatch(value) else None


def _email(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if _EMAIL.fullmatch(value) else None


def make_blueprint(state: EmulatorState) -> Blueprint:
    """The hosted pages (no API key: these are the buyer's)."""
    blueprint = Blueprint("stripe_pages", __name__)
    pages = _Pages(state)
    blueprint.add_url_rule("/assets/emulator.css", "css", _stylesheet)
    blueprint.add_url_rule("/pay/<link_id>", "link", pages.open_link)
    blueprint.add_url_rule("/pay/<link_id>", "pay_link", pages.pay_link, methods=["POST"])
    blueprint.add_url_rule("/checkout/<session_id>", "checkout", pages.checkout)
    blueprint.add_url_rule(
        "/checkout/<session_id>", "pay_checkout", pages.pay_checkout, methods=["POST"]
    )
    blueprint.add_url_rule("/vouchers/<intent_id>", "voucher", pages.voucher)
    blueprint.add_url_rule(
        "/vouchers/<intent_id>/pay", "voucher_paid", pages.voucher_paid, methods=["POST"]
    )
    blueprint.add_url_rule("/receipts/<charge_id>", "receipt", pages.receipt)
    blueprint.add_url_rule("/billing/<portal_id>", "billing", pages.billing)
    blueprint.add_url_rule("/invoices/<invoice_id>", "invoice", pages.invoice)
    blueprint.add_url_rule("/invoices/<invoice_id>/pdf", "invoice_pdf", pages.invoice_pdf)
    blueprint.after_request(_protect)
    return blueprint


def _stylesheet() -> Response:
    return Response(_CSS, mimetype="text/css")


def _protect(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = _CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _not_found(what: str) -> Response:
    return _message("Not found", f"There is no such {what}.", status=404)


class _Pages:
    """The page handlers."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # checkout

    def open_link(self, link_id: str) -> Response:
        """A visit to a Payment Link: a new open session, and its checkout form."""
        link = self.state.payment_links.get(link_id)
        if link is None:
            return _not_found("payment link")
        if not link["active"]:
            return _message("This link is no longer active", status=410)
        locked = _email(request.args.get("locked_prefilled_email"))
        session = self.state.open_link_session(
            link_id,
            client_reference_id=valid_reference(request.args.get("client_reference_id")),
            customer_email=locked,
        )
        return self._form(session, locked or _email(request.args.get("prefilled_email")) or "")

    def pay_link(self, link_id: str) -> Response:
        session = self.state.sessions.get(request.form.get("session", ""))
        if session is None or session["payment_link"] != link_id:
            return _message("This checkout has expired", "Open the payment link again.", status=400)
        return self._submit(session)

    def checkout(self, session_id: str) -> Response:
        session = self.state.sessions.get(session_id)
        if session is None:
            return _not_found("checkout session")
        if session["status"] != "open":
            return self._after_checkout(session)
        return self._form(session, "")

    def pay_checkout(self, session_id: str) -> Response:
        session = self.state.sessions.get(session_id)
        if session is None:
            return _not_found("checkout session")
        return self._submit(session)

    def _form(self, session: Json, email: str, error: str | None = None) -> Response:
        with self.state.lock:
            items = list(self.state.line_items[session["id"]])
            context = {
                "title": "Checkout",
                "items": items,
                "total": money(session["amount_total"], session["currency"] or "jpy"),
                "session_id": session["id"],
                "reference": session["client_reference_id"],
                "locked": bool(self._locked_email(session)),
                "email": self._locked_email(session) or email,
                "methods": [(m, FORM_METHODS[m]) for m in _offered(session)],
                "error": error,
            }
        return _page("pay.html", 400 if error else 200, **context)

    def _locked_email(self, session: Json) -> str | None:
        """The email the buyer cannot change: ``customer_email`` (``locked_prefilled_email``
        on a link), or the email of the session's existing customer."""
        customer = self.state.customers.get(session["customer"] or "") or {}
        return session["customer_email"] or customer.get("email")

    def _submit(self, session: Json) -> Response:
        """Pay ``session`` with the form's email (unless locked) and payment method."""
        if session["status"] != "open":
            return self._after_checkout(session)  # submitted twice: paid once
        email = self._locked_email(session) or _email(request.form.get("email"))
        method = request.form.get("payment_method", "")
        if email is None or method not in _offered(session):
            given = request.form.get("email", "")
            return self._form(session, given, "Enter your email address and choose how to pay.")
        self.state.complete_checkout(session["id"], email=email, payment_method=method)
        return self._after_checkout(session)

    def _after_checkout(self, session: Json) -> Response:
        """Where Stripe sends the buyer: the voucher to pay later, or back to the shop."""
        if session["status"] == "expired":
            return _message("This checkout has expired", "Ask the shop for a new link.")
        intent = self.state.payment_intents.get(session["payment_intent"] or "") or {}
        if session["payment_status"] == "unpaid" and intent.get("next_action"):
            return redirect(f"/vouchers/{intent['id']}", code=303)
        target, message = self._completion(session)
        if target:
            url = target.replace("{CHECKOUT_SESSION_ID}", session["id"])
            return redirect(url, code=303)
        return _message("Thanks for your payment", message or "Your payment is complete.")

    def _completion(self, session: Json) -> tuple[str | None, str | None]:
        """The redirect URL, or the confirmation message, the link or session asks for."""
        link = self.state.payment_links.get(session["payment_link"] or "")
        if link is None:
            return session["success_url"], None
        after = link["after_completion"]
        if after["type"] == "redirect":
            return after["redirect"]["url"], None
        return None, (after.get("hosted_confirmation") or {}).get("custom_message")

    # after checkout

    def voucher(self, intent_id: str) -> Response:
        intent = self.state.payment_intents.get(intent_id)
        if intent is None:
            return _not_found("voucher")
        if intent["status"] == "succeeded":
            return _message("Paid", "This payment has been received. You can close this page.")
        action = intent["next_action"] or {}
        amount = money(intent["amount"], intent["currency"])
        if action.get("type") == "konbini_display_details":
            return _konbini_voucher(intent_id, amount, action["konbini_display_details"])
        if action.get("type") == "display_bank_transfer_instructions":
            details = action["display_bank_transfer_instructions"]
            return _transfer_instructions(intent_id, amount, details)
        return _message("This voucher has expired", "Ask the shop how to pay.", status=410)

    def voucher_paid(self, intent_id: str) -> Response:
        """Test mode's "the money arrived": the session becomes paid, webhooks go out."""
        with self.state.lock:
            session = next(
                (s for s in self.state.sessions.values() if s["payment_intent"] == intent_id),
                None,
            )
            intent = self.state.payment_intents.get(intent_id) or {}
        if session is None:
            return _not_found("voucher")
        if intent.get("status") not in ("requires_action", "succeeded"):
            return _message("This voucher has expired", "It can no longer be paid.", status=410)
        self.state.mark_paid(session["id"])
        return redirect(f"/vouchers/{intent_id}", code=303)

    def receipt(self, charge_id: str) -> Response:
        charge = self.state.charges.get(charge_id)
        if charge is None:
            return _not_found("receipt")
        lines = [
            f"Paid {money(charge['amount'], charge['currency'])} on {_when(charge['created'])}.",
            f"Payment method: {charge['payment_method_details']['type']}.",
        ]
        if charge["amount_refunded"]:
            refunded = money(charge["amount_refunded"], charge["currency"])
            lines.append(f"Refunded: {refunded}.")
        return _message("Receipt", *lines)

    def billing(self, portal_id: str) -> Response:
        portal = self.state.portal_sessions.get(portal_id)
        if portal is None:
            return _not_found("billing portal session")
        customer = self.state.customers.get(portal["customer"]) or {}
        back = portal["return_url"]
        return _message(
            "Billing portal",
            f"Invoices and payment methods of {customer.get('email') or portal['customer']}.",
            link=(back, "Return to the shop") if back else None,
        )

    def invoice(self, invoice_id: str) -> Response:
        invoice = self.state.invoices.get(invoice_id)
        if invoice is None:
            return _not_found("invoice")
        total = money(invoice["total"], invoice["currency"])
        return _message(
            f"Invoice {invoice['number']}",
            f"Total {total}, {invoice['status']}.",
            link=(f"/invoices/{invoice_id}/pdf", "Download the PDF"),
        )

    def invoice_pdf(self, invoice_id: str) -> Response:
        if invoice_id not in self.state.invoices:
            return _not_found("invoice")
        return Response(b"%PDF-1.4\n%emulated invoice\n", mimetype="application/pdf")


def _offered(session: Json) -> list[str]:
    """The form's payment methods: those the session allows that the form can take."""
    offered = [m for m in session["payment_method_types"] or [] if m in FORM_METHODS]
    return offered or ["card"]


def _konbini_voucher(intent_id: str, amount: str, details: Json) -> Response:
    store = next(iter(details["stores"].values()))
    return _page(
        "voucher.html",
        title="Konbini payment voucher",
        intent_id=intent_id,
        amount=amount,
        where="at a convenience store (FamilyMart, Lawson, Ministop or Seicomart)",
        expires=_when(details["expires_at"]),
        details=[
            ("Payment code", store["payment_code"]),
            ("Confirmation number", store["confirmation_number"]),
        ],
    )


def _transfer_instructions(intent_id: str, amount: str, details: Json) -> Response:
    bank = details["financial_addresses"][0]["zengin"]
    return _page(
        "voucher.html",
        title="Bank transfer instructions",
        intent_id=intent_id,
        amount=amount,
        where="by bank transfer",
        expires=None,
        details=[
            ("Bank", f"{bank['bank_name']} ({bank['bank_code']})"),
            ("Branch", f"{bank['branch_name']} ({bank['branch_code']})"),
            ("Account", f"{bank['account_type']} {bank['account_number']}"),
            ("Account holder", bank["account_holder_name"]),
            ("Reference", details["reference"]),
        ],
    )
