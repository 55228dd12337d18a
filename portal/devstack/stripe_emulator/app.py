"""The emulator as one WSGI app: the ``/v1`` API and Stripe's hosted pages."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, request

from portal.devstack.stripe_emulator import api, pages
from portal.devstack.stripe_emulator.state import EmulatorState
from portal.devstack.stripe_emulator.webhooks import Endpoint

#: A webhook endpoint: an :class:`Endpoint`, or ``(url, secret)`` or ``(url, secret,
#: api_version)``.
Target = Endpoint | tuple[str, str] | tuple[str, str, str]


def create_app(
    state: EmulatorState,
    *,
    api_key: str,
    webhook_targets: Iterable[Target] = (),
    public_url: str | None = None,
) -> Flask:
    """Serve ``state`` as Stripe would, to clients presenting ``api_key``.

    ``webhook_targets`` are like a Stripe account's webhook endpoints: every event goes
    to each, saying the endpoint's API version (by default the one the SDK pins). ``public_url`` is where buyers reach
    the emulator (links in receipts, vouchers and Payment Links start with it); without
    it, the first request's host is used, so objects seeded before that get relative
    links.
    """
    with state.lock:
        state.webhook_targets = [
            t if isinstance(t, Endpoint) else Endpoint(*t) for t in webhook_targets
        ]
        if public_url:
            state.public_url = public_url.rstrip("/")
    app = Flask(__name__)

    @app.before_request
    def learn_public_url() -> None:
        if not state.public_url:
            with state.lock:
                state.public_url = state.public_url or request.host_url.rstrip("/")

    app.register_blueprint(api.make_blueprint(state, api_key))
    app.register_blueprint(pages.make_blueprint(state))
    return app
