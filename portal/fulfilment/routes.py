"""The buyer's view of fulfilment: the "being prepared" section and the JSON it polls.

``templates/orders/_fulfilment.html`` is the section (included by the order page while its
files are not there); ``static/fulfilment.js`` asks ``/orders/<id>/fulfilment.json`` with
backoff until they are. A poll reads the order from the shared cache (no Stripe call; a
webhook still invalidates it at once) and lists the order's S3 prefix once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from babel.units import format_unit
from flask import Blueprint, current_app, jsonify, render_template
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.domain import Order
from portal.fulfilment.delivery import Delivery
from portal.fulfilment.progress import Progress, Stage, progress_of
from portal.orders.service import OrderFiles, OrderService

bp = Blueprint("fulfilment", __name__)

#: A polling page accepts a cached order this old (seconds): polls cost no Stripe call.
POLL_ORDER_MAX_AGE = 900


@bp.get("/orders/<session_id>/fulfilment.json")
def poll(session_id: str) -> Response | tuple[Response, int]:
    """Where the order's fulfilment stands, for the page that waits for its files."""
    if not current_user.is_authenticated:
        return jsonify({"error": {"status": 401, "message": "log in again"}}), 401
    service: OrderService = current_app.extensions["portal.orders"]
    order = service.order(current_user.email, session_id, max_age=POLL_ORDER_MAX_AGE).value
    files = service.files(order)
    progress = buyer_progress(order, files)
    if progress is None:
        # S3 did not answer (ask again later), or the order no longer gets files.
        return jsonify({"stage": "unknown", "finished": not files.unavailable})
    html = render_template("orders/_fulfilment_state.html", order=order, progress=progress)
    return jsonify(
        {
            "stage": progress.stage.value,
            "finished": progress.stage.finished,
            "html": html,
            "announcement": _announcement(progress.stage),
        }
    )


@bp.app_template_global()
def fulfilment_progress(order: Order, files: OrderFiles) -> Progress | None:
    """For templates: the order's fulfilment, or ``None`` when it gets no files (yet)."""
    return buyer_progress(order, files)


@bp.app_template_filter("hours")
def hours(count: int) -> str:
    """``24 時間`` or ``24 hours``: a number of hours in the page's language."""
    return format_unit(count, "duration-hour", locale=str(get_locale() or "ja"))


def buyer_progress(order: Order, files: OrderFiles) -> Progress | None:
    """The order's fulfilment as of now, or ``None`` when files are not expected or S3
    could not be asked."""
    if not files.expected or files.unavailable:
        return None
    settings = current_app.extensions["portal.settings"]
    return progress_of(
        order,
        Delivery(files=files.files, status=files.status),
        usual_hours=settings.fulfilment_hours,
        now=datetime.now(tz=UTC),
    )


def _announcement(stage: Stage) -> str:
    """What a screen reader hears when the page changes by itself."""
    if stage is Stage.READY:
        return _("Your files are ready.")
    if stage is Stage.NOTHING_TO_DELIVER:
        return _("Your order is complete.")
    return ""
