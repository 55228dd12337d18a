"""Each request's Stripe budget and customer, set when it starts (``portal.stripe.guard``).

A view, a service or an adapter never passes them along: the guard reads them from
context variables, which the request's thread (and any pool it hands work to with a copy
of its context) sees until the request ends.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from flask import Flask, g, request
from flask_login import current_user

from portal.order_cache import email_key
from portal.stripe.guard import request_scope, spent

#: The WSGI environ key gunicorn's access log reads (``%({portal.stripe}e)s``).
ENVIRON_KEY = "portal.stripe"


def install(app: Flask, budget_seconds: int) -> None:
    """Open the scope before every view (after the session is read), close it after and
    leave what the request spent at Stripe in its environ for the access log."""

    @app.before_request
    def _open_scope() -> None:
        customer = email_key(current_user.email) if current_user.is_authenticated else None
        scope = request_scope(budget_seconds, customer)
        scope.__enter__()
        g.stripe_scope = scope

    @app.teardown_request
    def _close_scope(_exc: BaseException | None) -> None:
        scope: AbstractContextManager[None] | None = g.pop("stripe_scope", None)
        if scope is not None:
            request.environ[ENVIRON_KEY] = access_log_field(*spent())
            scope.__exit__(None, None, None)


def access_log_field(attempts: int, seconds: float) -> str:
    """``0`` for a request that neither asked Stripe nor waited for another's read of the
    same orders, else ``2/2034ms``: its attempts and the time on Stripe (``0/1980ms``:
    it only waited). gunicorn's access log times the whole request; this says how much of
    it was Stripe, and which pages were served from the cache alone."""
    return f"{attempts}/{seconds * 1000:.0f}ms" if attempts or seconds else "0"
