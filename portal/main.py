"""The front page, the liveness check and the readiness check."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.auth import expiry
from portal.order_cache import OrderCache

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> Response | str:
    """Logged-in customers go to their orders; others see how to log in."""
    if current_user.is_authenticated:
        return redirect(url_for("orders.index"))
    if not expiry.just_logged_out():
        return render_template("index.html")
    response = make_response(render_template("index.html", logged_out=True))
    expiry.clear_logged_out(response)
    return response


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """For load balancers: the process answers. Deliberately calls neither Stripe nor S3."""
    return {"status": "ok"}, 200


@bp.get("/readyz")
def readyz() -> tuple[dict[str, str], int]:
    """For load balancers choosing where to send customers: 503 while Redis, where the
    sessions and the shared cache live, does not answer (every page would be a 503).

    Stripe is not asked: during its outages the portal still serves copies and pages.
    """
    cache: OrderCache = current_app.extensions["portal.cache"]
    try:
        cache.check()
    except ConnectionError as exc:
        return {"status": "unavailable", "reason": str(exc)}, 503
    return {"status": "ready"}, 200
