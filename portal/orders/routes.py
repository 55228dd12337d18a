"""The customer's order pages and downloads."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from portal import audit
from portal.domain import BillingPortalUnavailable, Order
from portal.i18n import translated_statuses, zone_label
from portal.orders.export import PeopleCsv, as_csv, as_people_csv, order_record
from portal.orders.filters import parse_filter, today_in
from portal.orders.service import OrderNotFound, OrderService
from portal.orders.states import buyer_state
from portal.receipts.tax import TaxRates

bp = Blueprint("orders", __name__)

#: Pages past this are refused before Stripe is asked (each costs more list calls).
MAX_PAGE = 1000


def _service() -> OrderService:
    service: OrderService = current_app.extensions["portal.orders"]
    return service


@bp.get("/orders")
@login_required
def index() -> str:
    """The customer's orders, 50 a page, newest first, optionally filtered."""
    number = _page_number(request.args.get("page"))
    wanted, notices = parse_filter(request.args, get_timezone())
    if wanted.active:
        served = _service().filtered_page(current_user.email, wanted, number)
    else:
        served = _service().page(current_user.email, number)
    if not served.value.orders and number > 1:
        abort(404)
    return render_template(
        "orders/list.html",
        page=served.value,
        states=_service().states(served.value.orders, datetime.now(UTC)),
        presets=wanted.presets(today_in(get_timezone())),
        stale_as_of=served.stale_as_of,
        filter=wanted,
        notices=notices,
    )


@bp.post("/orders/billing")
@login_required
def billing() -> Response:
    """Open Stripe's billing portal (invoices, payment methods) for this customer."""
    back = current_app.config["PORTAL_PUBLIC_URL"] + url_for("orders.index")
    try:
        url = _service().billing_portal(current_user.email, back)
    except BillingPortalUnavailable as exc:
        flash(_billing_problem(exc.reason), "warning")
        return redirect(url_for("orders.index"))
    return redirect(url, code=303)


def _billing_problem(reason: str) -> str:
    """What the customer is told when the billing portal cannot be opened."""
    if reason == "no_customer":
        return _(
            "There is no billing account for your email address yet. If you have just"
            " subscribed, please try again in a few minutes."
        )
    if reason == "not_configured":
        return _(
            "Managing billing online is not available yet. Please contact us and we will help you."
        )
    return _("The billing portal cannot be opened right now. Please try again in a minute.")


@bp.get("/buy/<name>")
@login_required
def buy(name: str) -> Response:
    """Start a purchase through one of the shop's Payment Links with an OrderID signed for
    the logged-in buyer (so nobody else can claim it)."""
    links = dict(current_app.extensions["portal.settings"].payment_links)
    if name not in links:
        abort(404)
    url = _service().purchase_url(links[name], current_user.email)
    if url is None:
        abort(404)
    response = redirect(url, code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/orders.json")
@login_required
def export_json() -> Response:
    """The customer's order history (same filters as the list) as JSON."""
    wanted, _notices = parse_filter(request.args, get_timezone())
    history = _service().history(current_user.email, wanted).value
    rates = current_app.extensions["portal.tax_rates"]
    response = jsonify(
        {
            "orders": [order_record(order, rates) for order in history.orders],
            "complete": history.complete,
        }
    )
    return _attachment(response, "orders.json", complete=history.complete)


@bp.get("/orders.csv")
@login_required
def export_csv() -> Response:
    """The customer's order history (same filters as the list) as CSV: for people, in the
    page's language and the shop's times; ``format=raw`` for the machine form."""
    wanted, _notices = parse_filter(request.args, get_timezone())
    history = _service().history(current_user.email, wanted).value
    rates = current_app.extensions["portal.tax_rates"]
    if request.args.get("format") == "raw":
        body, filename = as_csv(history.orders, rates), "orders.csv"
    else:
        body, filename = as_people_csv(history.orders, _people_csv(rates)), "order-history.csv"
    # The byte-order mark makes Excel read UTF-8 (Japanese product names) correctly.
    response = make_response(("\ufeff" + body, 200, {"Content-Type": "text/csv; charset=utf-8"}))
    return _attachment(response, filename, complete=history.complete)


def _people_csv(rates: TaxRates) -> PeopleCsv:
    zone = get_timezone()
    return PeopleCsv(
        headers=(
            _("Order number"),
            _("Ordered on (%(zone)s)", zone=zone_label()),
            _("Status"),
            _("Items"),
            _("Total"),
            _("Of which consumption tax"),
            _("Currency"),
            _("Refunded amount"),
            _("Order ID"),
        ),
        statuses=translated_statuses(),
        zone=zone,
        time_format=_("%Y-%m-%d %H:%M"),
        separator=_(", "),
        rates=rates,
    )


def _attachment(response: Response, filename: str, *, complete: bool = True) -> Response:
    """A download; a history Stripe could not be read to the end in time says so in its
    name (``orders-incomplete.csv``), where the customer sees it."""
    if not complete:
        stem, _, suffix = filename.rpartition(".")
        filename = f"{stem}-incomplete.{suffix}"
        response.headers["X-Order-History"] = "incomplete"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/orders/return")
def payment_return() -> Response | tuple[str, int]:
    """Where a Payment Link sends the buyer after paying: their order, once logged in."""
    session_id = request.args.get("session_id", "")
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path))
    try:
        order = _service().order(current_user.email, session_id).value
    except OrderNotFound:
        return render_template("orders/return_unknown.html"), 404
    flash(_("Thank you for your order."), "success")
    return redirect(url_for("orders.detail", session_id=order.session_id))


@bp.get("/orders/<session_id>")
@login_required
def detail(session_id: str) -> str:
    """One order: items, amounts, status and files."""
    served = _service().order(current_user.email, session_id)
    order = served.value
    files = _service().files(order)
    state = buyer_state(order, files.ready, datetime.now(UTC))
    return render_template(
        "orders/detail.html",
        order=order,
        files=files,
        state=state,
        buy_again=_buy_again_url(order) if state.lapsed else None,
        link_lifetime=_link_lifetime(),
        stale_as_of=served.stale_as_of,
    )


def _buy_again_url(order: Order) -> str | None:
    """「もう一度購入する」: the shop's ``/buy/<name>`` for the Payment Link the order
    came from (a fresh signed OrderID), when the shop lists that link."""
    links = current_app.extensions["portal.settings"].payment_links
    name = _service().link_name_of(order, links)
    return url_for("orders.buy", name=name) if name else None


def _link_lifetime() -> str:
    """What the download buttons promise, true to ``PORTAL_DOWNLOAD_TTL_SECONDS``."""
    seconds = current_app.extensions["portal.settings"].download_ttl_seconds
    if seconds < 120:
        return _(
            "Each click makes a new download link that works for %(seconds)s seconds, "
            "so you can come back and download again at any time.",
            seconds=seconds,
        )
    return _(
        "Each click makes a new download link that works for %(minutes)s minutes, "
        "so you can come back and download again at any time.",
        minutes=seconds // 60,
    )


@bp.get("/orders/<session_id>/files/<path:name>")
@login_required
def download(session_id: str, name: str) -> Response:
    """A short-lived S3 link to one of the customer's paid files."""
    url = _service().download_url(current_user.email, session_id, name)
    audit.record("download", who=audit.mask_email(current_user.email), order=session_id, file=name)
    response = redirect(url, code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page_number(raw: str | None) -> int:
    if raw is None:
        return 1
    if not re.fullmatch(r"[0-9]{1,6}", raw) or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, description=_("The page number must be a whole number from 1."))
    return int(raw)
