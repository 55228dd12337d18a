"""The front page and the health check."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

bp = Blueprint("main", __name__)


@bp.get("/")
def index() -> Response | str:
    """Logged-in customers go to their orders; others see how to log in."""
    if current_user.is_authenticated:
        return redirect(url_for("orders.index"))
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> tuple[dict[str, str], int]:
    """For load balancers: the process answers. Deliberately calls neither Stripe nor S3."""
    return {"status": "ok"}, 200
